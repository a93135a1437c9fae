using RoRecomp.Core.Coordination;
using RoRecomp.Core.Metrics;
using RoRecomp.Core.Recomposition;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Training.Steps;

/// <summary>Recomposes a step's online batch (RoRecomp) and measures it.</summary>
public static class StepRecomposer
{
    /// <summary>
    /// Recomposes step <paramref name="step"/>'s online batch (one verified group per prompt, in batch order) with
    /// <see cref="Recomposer.Recompose"/>, ties broken by a seed mixed from (run seed, step), and the step's online
    /// metrics (compensation and buffer sizes 0: the learner fills them in).
    /// </summary>
    public static (RecompositionResult Result, StepMetrics Metrics) Recompose(
        IReadOnlyList<RolloutGroup> online, RecompositionOptions options, int runSeed, long step, long policyVersion)
    {
        var result = Recomposer.Recompose(online, options, unchecked((int)WorkLeases.Seed(runSeed, step, -1)));
        return (result, StepMetrics.From(step, policyVersion, online, result, 0, 0));
    }
}
