using RoRecomp.Core.Advantages;

namespace RoRecomp.Core.Recomposition;

/// <summary>Where responses are ranked by length.</summary>
public enum RankScope
{
    /// <summary>Across the whole online batch.</summary>
    Batch,

    /// <summary>Inside each prompt's group.</summary>
    Group,
}

/// <summary>What "length" means when ranking.</summary>
public enum LengthKey
{
    /// <summary>Response length in tokens.</summary>
    Tokens,

    /// <summary>Tool calls first, then tokens (agentic tasks).</summary>
    ToolCallsThenTokens,
}

/// <summary>Which advantages the priority batch trains with.</summary>
public enum AdvantageScope
{
    /// <summary>Recomputed over the priority batch, treated as one group.</summary>
    Recomposed,

    /// <summary>Each response keeps the advantage of its online group.</summary>
    Original,
}

/// <summary>
/// Every knob of RoRecomp's recomposition (HOCON <c>rorecomp.recomposition.*</c> and <c>rorecomp.algorithm.*</c>).
/// </summary>
/// <param name="Enabled">false = plain GRPO: the whole online batch is the update, nothing goes to the replay buffer.</param>
/// <param name="Scope">Rank across the batch or inside each group.</param>
/// <param name="PriorityFraction">Fraction of correct (shortest) and of incorrect (longest) responses selected, in (0, 1].</param>
/// <param name="LengthKey">What is ranked.</param>
/// <param name="AdvantageScope">Advantages recomputed over the priority batch, or the online group's.</param>
/// <param name="Estimator">Advantage estimator name (<see cref="AdvantageEstimators"/>).</param>
/// <param name="Eps">Epsilon of the std normalisation.</param>
public sealed record RecompositionOptions(
    bool Enabled = true,
    RankScope Scope = RankScope.Batch,
    double PriorityFraction = 0.5,
    LengthKey LengthKey = LengthKey.Tokens,
    AdvantageScope AdvantageScope = AdvantageScope.Recomposed,
    string Estimator = AdvantageEstimators.Grpo,
    double Eps = 1e-6)
{
    /// <summary>The defaults of DESIGN.md §1.</summary>
    public static RecompositionOptions Default { get; } = new();

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad value and what is allowed.</summary>
    public RecompositionOptions Validate()
    {
        if (!(PriorityFraction > 0 && PriorityFraction <= 1))
            throw new ArgumentException($"priority-fraction = {PriorityFraction}: must be in (0, 1]");
        if (!(Eps > 0) || !double.IsFinite(Eps))
            throw new ArgumentException($"eps = {Eps}: must be a positive finite number");
        _ = AdvantageEstimators.Get(Estimator);
        return this;
    }
}
