using RoRecomp.Core.Training;
using RoRecomp.Model.Runtime;
using static TorchSharp.torch;

namespace RoRecomp.Model.Training;

/// <summary>Policy-loss settings (HOCON <c>rorecomp.policy-loss.*</c>).</summary>
/// <param name="EpsLow">Lower clip: ratio &gt;= 1 - EpsLow.</param>
/// <param name="EpsHigh">Upper clip: ratio &lt;= 1 + EpsHigh (DAPO's clip-higher when larger than EpsLow).</param>
/// <param name="AggregationMode">token-mean | seq-mean-token-mean | seq-mean-token-sum-norm.</param>
/// <param name="KlCoefficient">Weight of the k3 KL to the reference model (0 = off).</param>
/// <param name="NormLength">Constant length for seq-mean-token-sum-norm (Dr. GRPO); 0 = the batch's response width.</param>
public sealed record PolicyLossOptions(double EpsLow = 0.2, double EpsHigh = 0.2, string AggregationMode = LossAggregation.TokenMean, double KlCoefficient = 0.0, int NormLength = 0);

/// <summary>How per-token losses become one number (verl's <c>agg_loss</c>), registered by name.</summary>
public static class LossAggregation
{
    /// <summary>Mean over every response token of the batch.</summary>
    public const string TokenMean = LossAggregationModes.TokenMean;

    /// <summary>Mean over sequences of each sequence's token mean.</summary>
    public const string SeqMeanTokenMean = LossAggregationModes.SeqMeanTokenMean;

    /// <summary>Token sums normalised by a constant length, then the mean over sequences (Dr. GRPO: no length bias).</summary>
    public const string SeqMeanTokenSumNorm = LossAggregationModes.SeqMeanTokenSumNorm;

    /// <summary>The known names (<see cref="LossAggregationModes.Names"/>).</summary>
    public static IReadOnlyList<string> Names => LossAggregationModes.Names;

    /// <summary>Throws with the list of known names when <paramref name="mode"/> is not one.</summary>
    public static string Validate(string mode) =>
        Names.Contains(mode) ? mode : throw new ArgumentException($"unknown loss aggregation mode '{mode}'; known: {string.Join(", ", Names)}");

    /// <summary>
    /// This micro-batch's share of the whole batch's aggregated loss, so that summing the shares over micro-batches equals
    /// aggregating the whole batch at once. <paramref name="totalTokens"/> and <paramref name="totalSequences"/> are the whole batch's.
    /// </summary>
    public static Tensor Aggregate(Tensor loss, Tensor mask, string mode, double totalTokens, int totalSequences, int normLength)
    {
        using var k = new ScalarScope();
        switch (mode)
        {
            case TokenMean:
                return (loss * mask).sum() / k.Of(Math.Max(totalTokens, 1.0));
            case SeqMeanTokenMean:
                var perSeq = (loss * mask).sum(-1) / mask.sum(-1).clamp_min(k.Of(1.0));
                return perSeq.sum() / k.Of(Math.Max(totalSequences, 1));
            case SeqMeanTokenSumNorm:
                var norm = normLength > 0 ? normLength : mask.shape[1];
                return (loss * mask).sum() / k.Of((double)Math.Max(totalSequences, 1) * norm);
            default:
                throw new ArgumentException($"unknown loss aggregation mode '{mode}'; known: {string.Join(", ", Names)}");
        }
    }
}

/// <summary>The per-token pieces of the clipped surrogate objective.</summary>
public static class PolicyLoss
{
    /// <summary>
    /// Per-token PPO/GRPO loss: max(-A * ratio, -A * clip(ratio, 1 - epsLow, 1 + epsHigh)), ratio = exp(logp - behaviour),
    /// plus the k3 KL estimate exp(ref - logp) - (ref - logp) - 1 times its coefficient when a reference is given.
    /// Returns the loss (B, R) and a (B, R) 0/1 tensor of where clipping was active.
    /// </summary>
    public static (Tensor Loss, Tensor Clipped) PerToken(Tensor logProbs, Tensor behaviourLogProbs, Tensor advantages, PolicyLossOptions o, Tensor? referenceLogProbs = null)
    {
        using var k = new ScalarScope();
        var ratio = (logProbs - behaviourLogProbs).exp();
        var a = advantages.unsqueeze(-1);
        var unclipped = -a * ratio;
        var clipped = -a * ratio.clamp(k.Of(1 - o.EpsLow), k.Of(1 + o.EpsHigh));
        var loss = maximum(unclipped, clipped);
        var active = clipped.gt(unclipped).to(ScalarType.Float32);
        if (referenceLogProbs is not null && o.KlCoefficient > 0)
        {
            var d = referenceLogProbs - logProbs;
            loss = ScalarScope.Add(loss, k.Of(o.KlCoefficient) * (d.exp() - d - k.Of(1.0)));
        }
        return (loss, active);
    }
}
