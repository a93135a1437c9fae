using System.Collections.Immutable;
using RoRecomp.Core.Advantages;
using RoRecomp.Core.Rollouts;
using RoRecomp.Core.Training;

namespace RoRecomp.Core.Recomposition;

/// <summary>How many responses of each kind the recomposition selected.</summary>
public sealed record RecompositionStats(int Correct, int Incorrect, int ShortCorrect, int LongIncorrect);

/// <summary>The recomposed online batch: the update to make now, and the responses to keep for later.</summary>
/// <param name="Priority">The batch the learner updates on this step (kind Priority, or Online when recomposition is off).</param>
/// <param name="Compensation">Every other response of the online batch, in online order: they go to the replay buffer.</param>
/// <param name="Stats">Counts for metrics.</param>
public sealed record RecompositionResult(TrainingBatch Priority, ImmutableArray<Response> Compensation, RecompositionStats Stats);

/// <summary>
/// RoRecomp: Rollout Response Recomposition (arXiv 2509.25958), one function.
/// <para>
/// Priority batch = the shortest <c>k = ceil(fraction * n)</c> of the n correct responses plus the longest
/// <c>k = ceil(fraction * m)</c> of the m incorrect ones, ranked across the batch (<see cref="RankScope.Batch"/>) or
/// inside each prompt's group (<see cref="RankScope.Group"/>). So a non-empty set always contributes at least one
/// response, and fraction 1 selects everything. Correctness is the verifier's <see cref="Response.Correct"/>;
/// rewards are never changed.
/// </para>
/// <para>
/// Ties in length are broken by a hash of (seed, response id): deterministic under a seed, independent of the
/// order of the input, and different seeds may break ties differently.
/// </para>
/// <para>
/// Advantages: <see cref="AdvantageScope.Recomposed"/> runs the estimator over the whole priority batch as one
/// group, so short-correct responses get A &gt; 0 and long-incorrect ones A &lt; 0 whenever both are present; a
/// priority batch that is all correct or all incorrect has zero variance and every A = 0 (no signal: keep
/// accuracy headroom). <see cref="AdvantageScope.Original"/> keeps each response's online-group advantage.
/// With recomposition off, the whole online batch is returned with its group advantages and nothing is compensated.
/// </para>
/// </summary>
public static class Recomposer
{
    /// <summary>Recomposes the online batch. Response ids must be unique.</summary>
    public static RecompositionResult Recompose(IReadOnlyList<RolloutGroup> online, RecompositionOptions options, int seed)
    {
        options.Validate();
        var estimator = AdvantageEstimators.Get(options.Estimator);
        var all = online.SelectMany(g => g.Responses.IsDefault ? [] : (IEnumerable<Response>)g.Responses).ToList();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in all)
        {
            if (!ids.Add(r.Id)) throw new ArgumentException($"response id '{r.Id}' occurs twice in the online batch; ids must be unique");
        }

        var onlineAdvantage = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var group in online)
        {
            if (group.Responses.IsDefaultOrEmpty) continue;
            var adv = estimator(group.Responses.Select(r => r.Reward).ToArray(), options.Eps);
            for (var i = 0; i < adv.Length; i++) onlineAdvantage[group.Responses[i].Id] = adv[i];
        }

        var correctTotal = all.Count(r => r.Correct);
        var incorrectTotal = all.Count - correctTotal;
        if (!options.Enabled)
        {
            var samples = all.Select(r => new TrainSample(r, onlineAdvantage[r.Id])).ToImmutableArray();
            return new RecompositionResult(new TrainingBatch(BatchKind.Online, samples), [], new RecompositionStats(correctTotal, incorrectTotal, 0, 0));
        }

        var partitions = options.Scope == RankScope.Batch
            ? [all]
            : online.Select(g => g.Responses.IsDefault ? new List<Response>() : g.Responses.ToList()).ToList();
        var selected = new HashSet<string>(StringComparer.Ordinal);
        int shortCorrect = 0, longIncorrect = 0;
        foreach (var part in partitions)
        {
            var correct = part.Where(r => r.Correct).ToList();
            var incorrect = part.Where(r => !r.Correct).ToList();
            foreach (var r in Ranked(correct, options.LengthKey, seed, longestFirst: false).Take(Quota(correct.Count, options.PriorityFraction)))
            {
                selected.Add(r.Id);
                shortCorrect++;
            }
            foreach (var r in Ranked(incorrect, options.LengthKey, seed, longestFirst: true).Take(Quota(incorrect.Count, options.PriorityFraction)))
            {
                selected.Add(r.Id);
                longIncorrect++;
            }
        }

        var priority = all.Where(r => selected.Contains(r.Id)).ToList();
        var advantages = options.AdvantageScope == AdvantageScope.Recomposed
            ? estimator(priority.Select(r => r.Reward).ToArray(), options.Eps)
            : priority.Select(r => onlineAdvantage[r.Id]).ToArray();
        var prioritySamples = priority.Select((r, i) => new TrainSample(r, advantages[i])).ToImmutableArray();
        var compensation = all.Where(r => !selected.Contains(r.Id)).ToImmutableArray();
        return new RecompositionResult(
            new TrainingBatch(BatchKind.Priority, prioritySamples),
            compensation,
            new RecompositionStats(correctTotal, incorrectTotal, shortCorrect, longIncorrect));
    }

    /// <summary>k = ceil(fraction * n), with a tolerance so that e.g. 0.5 * 4 is exactly 2.</summary>
    public static int Quota(int n, double fraction) => n == 0 ? 0 : Math.Min(n, (int)Math.Ceiling(fraction * n - 1e-9));

    /// <summary>The ranking key of a response: (tool calls, tokens) or (0, tokens).</summary>
    public static (int Primary, int Secondary) LengthOf(Response r, LengthKey key) =>
        key == LengthKey.ToolCallsThenTokens ? (r.ToolCalls, r.Length) : (0, r.Length);

    private static IEnumerable<Response> Ranked(List<Response> responses, LengthKey key, int seed, bool longestFirst)
    {
        var ordered = longestFirst
            ? responses.OrderByDescending(r => LengthOf(r, key))
            : responses.OrderBy(r => LengthOf(r, key));
        return ordered.ThenBy(r => TieBreak(seed, r.Id));
    }

    /// <summary>A stable 64-bit hash of (seed, id) (FNV-1a then a mix): not string.GetHashCode, which changes per process.</summary>
    internal static ulong TieBreak(int seed, string id)
    {
        var h = 14695981039346656037UL ^ (ulong)(uint)seed;
        foreach (var c in id)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdUL;
        h ^= h >> 33;
        return h;
    }
}
