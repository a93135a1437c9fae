using System.Collections.Immutable;
using RoRecomp.Core.Coordination;
using RoRecomp.Settings;
using RoRecomp.Tasks;

namespace RoRecomp.Training.Steps;

/// <summary>Plans a step: which prompts its online batch holds and how they are split into sampler leases.</summary>
public static class StepPlanner
{
    /// <summary>
    /// What opening step <paramref name="step"/> issues: its leases (the prompts from data index <paramref name="cursor"/>
    /// on, sampled with at least <paramref name="policyVersion"/>) and the step's prompt ids in batch order.
    /// </summary>
    public static (ImmutableArray<WorkLease> Leases, ImmutableArray<string> PromptIds) Plan(IRlTask task, RunSettings run, long step, long cursor, long policyVersion)
    {
        var leases = WorkLeases.Plan(step, cursor, run.PromptsPerStep, run.LeaseSize, run.SamplesPerPrompt, policyVersion, run.Seed);
        var ids = leases.SelectMany(l => l.PromptIndices).Select(i => RunContext.TrainPrompt(task, i).Id).ToImmutableArray();
        return (leases, ids);
    }
}
