using System.Collections.Immutable;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Rollouts;
using RoRecomp.Model.Tokenizers;
using RoRecomp.Model.Transformer;
using RoRecomp.Settings;
using RoRecomp.Tasks;
using RoRecomp.Training.Rollouts;

namespace RoRecomp.Training.Steps;

/// <summary>Samples a sampler lease with a policy copy.</summary>
public static class LeaseSampler
{
    /// <summary>
    /// Samples a lease with <paramref name="model"/> (policy <paramref name="policyVersion"/>): the lease's samples per
    /// prompt for each of its prompts (<see cref="EpisodeRunner.Sample"/> with the lease's seed), as one unverified
    /// group per prompt in lease order, with response ids that are stable across re-runs.
    /// </summary>
    public static ImmutableArray<RolloutGroup> Sample(
        PolicyTransformer model, ITokenizer tokenizer, IRlTask task, SamplingSettings sampling, WorkLease lease, long policyVersion)
    {
        var prompts = lease.PromptIndices.Select(i => RunContext.TrainPrompt(task, i)).ToList();
        var episodes = EpisodeRunner.Sample(
            model, tokenizer, task, prompts, lease.SamplesPerPrompt, sampling.MaxNewTokens, sampling.Temperature, sampling.TopP, sampling.TopK, lease.Seed);
        var groups = ImmutableArray.CreateBuilder<RolloutGroup>(prompts.Count);
        for (var p = 0; p < prompts.Count; p++)
        {
            var responses = ImmutableArray.CreateBuilder<Response>(lease.SamplesPerPrompt);
            for (var j = 0; j < lease.SamplesPerPrompt; j++)
            {
                var e = episodes[(p * lease.SamplesPerPrompt) + j];
                responses.Add(new Response(
                    WorkLeases.ResponseId(lease.Step, e.Prompt.Id, j), e.Prompt.Id, j, lease.Step, policyVersion,
                    [.. e.PromptTokens], [.. e.Tokens], [.. e.LogProbs],
                    ActionMask: e.ActionMask.All(x => x) ? default : [.. e.ActionMask]));
            }
            groups.Add(new RolloutGroup(prompts[p].Id, lease.Step, responses.MoveToImmutable()));
        }
        return groups.MoveToImmutable();
    }
}
