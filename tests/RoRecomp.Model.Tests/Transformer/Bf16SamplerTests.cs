using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Sampling;
using RoRecomp.Model.Training;
using RoRecomp.Model.Transformer;
using TorchSharp;
using static TorchSharp.torch;

namespace RoRecomp.Model.Tests.Transformer;

/// <summary>A sampler's bf16 copy (model.dtype = bf16): it samples, stops on any end id, and scores as the fp32 learner does, within bf16 rounding.</summary>
public sealed class Bf16SamplerTests
{
    [Fact]
    public void A_bf16_copy_samples_with_log_probs_close_to_the_fp32_policy()
    {
        using var fp32 = TinyModels.Make(seed: 7);
        using var bf16 = new PolicyTransformer(fp32.Config);
        bf16.to(ScalarType.BFloat16);   // as PolicyFactory makes a sampler copy, then loads the learner's weights into it
        StateDicts.Load(bf16, fp32.state_dict(), strict: true, "fp32 policy");
        Assert.All(bf16.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));

        int[][] prompts = [[3, 4, 5], [6], [7, 8]];
        var options = new SamplingOptions(12, EosId: 1, PadId: 0, Temperature: 1.0);
        var generated = PolicySampler.Generate(bf16, prompts, options, seed: 11);
        Assert.All(generated, g => Assert.All(g.LogProbs, lp => Assert.True(float.IsFinite(lp) && lp <= 0)));

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var batch = prompts.Select((p, i) => new ScoredSequence(p, generated[i].Tokens)).ToList();
        var learner = LogProbs.Compute(fp32, batch).LogProbs.cpu();
        var diffs = new List<double>();
        for (var i = 0; i < batch.Count; i++)
        {
            for (var t = 0; t < generated[i].Tokens.Length; t++) diffs.Add(Math.Abs(learner[i, t].item<float>() - generated[i].LogProbs[t]));
        }
        Assert.NotEmpty(diffs);
        Assert.True(diffs.Average() < 0.05, $"mean |log p fp32 - log p bf16| = {diffs.Average():F4}");
        Assert.True(diffs.Max() < 0.3, $"max |log p fp32 - log p bf16| = {diffs.Max():F4}");
    }

    [Fact]
    public void Any_of_the_end_ids_ends_a_row()
    {
        using var model = TinyModels.Make(seed: 2);
        var greedy = new SamplingOptions(8, EosId: -1, PadId: 0, Temperature: 0);   // no end id: the greedy path runs to the cap
        var free = PolicySampler.Generate(model, [[3, 4]], greedy, seed: 1)[0];
        Assert.Equal(StopReason.MaxTokens, free.Reason);
        var first = free.Tokens[0];
        var ended = PolicySampler.Generate(model, [[3, 4]], greedy with { MoreEosIds = [first] }, seed: 1)[0];
        Assert.Equal(StopReason.Eos, ended.Reason);
        Assert.Equal([first], ended.Tokens);
    }
}
