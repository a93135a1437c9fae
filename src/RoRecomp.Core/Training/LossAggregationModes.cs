namespace RoRecomp.Core.Training;

/// <summary>
/// The names of the policy loss's aggregation modes (HOCON <c>rorecomp.policy-loss.loss-agg-mode</c>, verl's
/// <c>loss_agg_mode</c>): the registry the settings loader checks names against and the model's loss dispatches on.
/// </summary>
public static class LossAggregationModes
{
    /// <summary>Mean over every response token of the batch.</summary>
    public const string TokenMean = "token-mean";

    /// <summary>Mean over sequences of each sequence's token mean.</summary>
    public const string SeqMeanTokenMean = "seq-mean-token-mean";

    /// <summary>Token sums normalised by a constant length, then the mean over sequences (Dr. GRPO: no length bias).</summary>
    public const string SeqMeanTokenSumNorm = "seq-mean-token-sum-norm";

    /// <summary>The known names, sorted.</summary>
    public static readonly IReadOnlyList<string> Names = [SeqMeanTokenMean, SeqMeanTokenSumNorm, TokenMean];
}
