namespace RoRecomp.Core.Advantages;

/// <summary>
/// Computes one advantage per response of a group from the group's rewards.
/// Implementations must be pure and must never return NaN or infinity for finite rewards.
/// </summary>
public delegate double[] AdvantageEstimator(IReadOnlyList<double> rewards, double eps);

/// <summary>
/// The advantage estimators, registered by name and picked by config (<c>rorecomp.algorithm.advantage-estimator</c>),
/// after verl's <c>core_algos.py</c>.
/// <para>Degenerate cases, decided here and tested:</para>
/// <list type="bullet">
/// <item>an empty group gives an empty array;</item>
/// <item>a group of one has mean 0 and std 1 (verl's rule), so its advantage is its reward (grpo and dr-grpo alike);</item>
/// <item>a group whose rewards are all equal has std 0, so every advantage is 0 / (0 + eps) = 0;</item>
/// <item>std is the unbiased (n-1) standard deviation, as <c>torch.std</c>;</item>
/// <item>a non-finite reward is bad data and throws.</item>
/// </list>
/// </summary>
public static class AdvantageEstimators
{
    /// <summary>GRPO: A = (r - mean) / (std + eps).</summary>
    public const string Grpo = "grpo";

    /// <summary>Dr. GRPO: A = r - mean (no std normalisation, which removes the question-difficulty bias).</summary>
    public const string DrGrpo = "dr-grpo";

    private static readonly SortedDictionary<string, AdvantageEstimator> Registry = new(StringComparer.Ordinal)
    {
        [Grpo] = GroupNormalized,
        [DrGrpo] = MeanCentered,
    };

    /// <summary>The known estimator names, sorted.</summary>
    public static IReadOnlyCollection<string> Names => Registry.Keys;

    /// <summary>The estimator called <paramref name="name"/>; an unknown name fails with the list of known ones.</summary>
    public static AdvantageEstimator Get(string name) =>
        Registry.TryGetValue(name, out var estimator)
            ? estimator
            : throw new ArgumentException($"unknown advantage estimator '{name}'; known: {string.Join(", ", Names)}", nameof(name));

    /// <summary>GRPO's group-normalised advantage.</summary>
    public static double[] GroupNormalized(IReadOnlyList<double> rewards, double eps)
    {
        var (mean, std) = GroupStats(rewards);
        var result = new double[rewards.Count];
        for (var i = 0; i < result.Length; i++) result[i] = (rewards[i] - mean) / (std + eps);
        return result;
    }

    /// <summary>Dr. GRPO's mean-centred advantage.</summary>
    public static double[] MeanCentered(IReadOnlyList<double> rewards, double eps)
    {
        var (mean, _) = GroupStats(rewards);
        var result = new double[rewards.Count];
        for (var i = 0; i < result.Length; i++) result[i] = rewards[i] - mean;
        return result;
    }

    /// <summary>Mean and unbiased std of a group; (0, 1) for groups of fewer than two.</summary>
    public static (double Mean, double Std) GroupStats(IReadOnlyList<double> rewards)
    {
        for (var i = 0; i < rewards.Count; i++)
        {
            if (!double.IsFinite(rewards[i])) throw new ArgumentException($"reward {i} of the group is {rewards[i]}; rewards must be finite", nameof(rewards));
        }
        if (rewards.Count < 2) return (0, 1);
        var mean = 0.0;
        for (var i = 0; i < rewards.Count; i++) mean += rewards[i];
        mean /= rewards.Count;
        var ss = 0.0;
        for (var i = 0; i < rewards.Count; i++) ss += (rewards[i] - mean) * (rewards[i] - mean);
        return (mean, Math.Sqrt(ss / (rewards.Count - 1)));
    }
}
