using RoRecomp.Core.Recomposition;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Core.Metrics;

/// <summary>What one training step did, for the progress display and <c>metrics.jsonl</c>.</summary>
public sealed record StepMetrics(
    long Step,
    long PolicyVersion,
    int Responses,
    double Accuracy,
    double MeanLength,
    double MeanLengthCorrect,
    double MeanToolCalls,
    double FormatValid,
    int PrioritySize,
    int CompensationSize,
    int ShortCorrect,
    int LongIncorrect,
    int BufferSize,
    long MinPolicyVersion = 0)
{
    /// <summary>
    /// How many versions the oldest behaviour policy of the batch lags the policy it is trained into (the learner is at
    /// <c>PolicyVersion - 1</c> when it trains this step). Bounded by <c>async.max-policy-lag</c>.
    /// </summary>
    public long PolicyLag => Math.Max(0, PolicyVersion - 1 - MinPolicyVersion);

    /// <summary>
    /// Aggregates the online batch of a step. Means over an empty batch (or no correct response, for
    /// <see cref="MeanLengthCorrect"/>) are 0, never NaN.
    /// </summary>
    public static StepMetrics From(
        long step, long policyVersion, IReadOnlyList<RolloutGroup> online, RecompositionResult recomposition, int compensationSize, int bufferSize)
    {
        var all = online.SelectMany(g => g.Responses.IsDefault ? [] : (IEnumerable<Response>)g.Responses).ToList();
        var correct = all.Where(r => r.Correct).ToList();
        return new StepMetrics(
            step,
            policyVersion,
            all.Count,
            Mean(all, r => r.Correct ? 1 : 0),
            Mean(all, r => r.Length),
            Mean(correct, r => r.Length),
            Mean(all, r => r.ToolCalls),
            Mean(all, r => r.FormatValid ? 1 : 0),
            recomposition.Priority.Count,
            compensationSize,
            recomposition.Stats.ShortCorrect,
            recomposition.Stats.LongIncorrect,
            bufferSize,
            all.Count == 0 ? 0 : all.Min(r => r.PolicyVersion));
    }

    private static double Mean(List<Response> xs, Func<Response, double> f) => xs.Count == 0 ? 0 : xs.Average(f);
}
