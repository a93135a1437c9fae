using System.Collections.Immutable;
using RoRecomp.Core.Advantages;
using RoRecomp.Core.Rollouts;
using RoRecomp.Core.Training;

namespace RoRecomp.Core.Replay;

/// <summary>Turns responses drawn from the replay buffer into a compensation training batch.</summary>
public static class CompensationBatches
{
    /// <summary>
    /// Recomputes group advantages inside the drawn batch: responses with the same (prompt id, step) form a group
    /// and the estimator runs over each (a group of one follows the estimator's degenerate-case rule).
    /// Sample order is the drawn order.
    /// </summary>
    public static TrainingBatch Build(IReadOnlyList<Response> drawn, string estimatorName, double eps, double weight)
    {
        if (!double.IsFinite(weight) || weight < 0) throw new ArgumentException($"compensation weight = {weight}: must be finite and >= 0", nameof(weight));
        var estimator = AdvantageEstimators.Get(estimatorName);
        var advantage = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var group in drawn.GroupBy(r => (r.PromptId, r.Step)))
        {
            var members = group.ToArray();
            var adv = estimator(members.Select(r => r.Reward).ToArray(), eps);
            for (var i = 0; i < members.Length; i++) advantage[members[i].Id] = adv[i];
        }
        return new TrainingBatch(BatchKind.Compensation, [.. drawn.Select(r => new TrainSample(r, advantage[r.Id]))], weight);
    }
}
