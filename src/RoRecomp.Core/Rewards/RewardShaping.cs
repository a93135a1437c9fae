namespace RoRecomp.Core.Rewards;

/// <summary>
/// The length-penalty baseline's reward (<c>rorecomp.reward.*</c>, L1-style): a correct response loses
/// <c>length-penalty * min(1, max(0, length - target-length) / max-new-tokens)</c> of its reward; an incorrect one keeps
/// the verifier's reward, and a shaped reward never drops below it (0). The verdict itself is never changed.
/// </summary>
/// <param name="Coefficient">Penalty at (or beyond) <paramref name="MaxNewTokens"/> tokens over the target, in [0, 1]; 0 = off.</param>
/// <param name="TargetLength">Tokens free of penalty.</param>
/// <param name="MaxNewTokens">The response length cap the excess is normalised by.</param>
public sealed record RewardShaping(double Coefficient, int TargetLength, int MaxNewTokens)
{
    /// <summary>No shaping: the verifier's reward as is.</summary>
    public static readonly RewardShaping None = new(0, 0, 1);

    /// <summary>Whether the reward is shaped at all.</summary>
    public bool Enabled => Coefficient > 0;

    /// <summary>The reward of a response with verdict reward <paramref name="reward"/>, verdict <paramref name="correct"/> and <paramref name="length"/> tokens.</summary>
    public double Shape(double reward, bool correct, int length)
    {
        if (!Enabled || !correct) return reward;
        var excess = Math.Max(0, length - TargetLength) / (double)Math.Max(1, MaxNewTokens);
        return Math.Max(0, reward - Coefficient * Math.Min(1, excess));
    }
}
