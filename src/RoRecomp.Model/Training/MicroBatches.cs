namespace RoRecomp.Model.Training;

/// <summary>
/// How a training batch is split into micro-batches (forward + backward each, gradients accumulated). The loss of each
/// micro-batch is normalised by the whole batch's token and sequence counts (<see cref="LossAggregation.Aggregate"/>),
/// so the update does not depend on the split beyond float rounding.
/// </summary>
public static class MicroBatches
{
    /// <summary>
    /// The micro-batches of <paramref name="lengths"/>.Count sequences of the given lengths (prompt + response tokens),
    /// as index groups in the order they are trained.
    /// <list type="bullet">
    /// <item><paramref name="maxTokens"/> = 0: consecutive groups of <paramref name="maxSequences"/>, in batch order
    /// (<c>Chunk</c>).</item>
    /// <item><paramref name="maxTokens"/> &gt; 0 (a token budget; <paramref name="maxSequences"/> is then not used):
    /// sequences sorted by length, longest first (ties in batch order), packed greedily so that each group's padded size,
    /// rows x its longest sequence, stays within the budget. Sorting keeps padding low, and the first micro-batch is
    /// the largest, so a budget too large for the device fails at once. A sequence longer than the budget on its own is
    /// not refused: it forms a micro-batch by itself (the least memory it can take), and a long response never stops a run.</item>
    /// </list>
    /// </summary>
    public static IReadOnlyList<int[]> Plan(IReadOnlyList<int> lengths, int maxSequences, int maxTokens)
    {
        if (maxSequences < 1) throw new ArgumentException($"micro-batch-size = {maxSequences}: must be >= 1");
        if (maxTokens < 0) throw new ArgumentException($"max-tokens-per-micro-batch = {maxTokens}: must be >= 0 (0 = off)");
        if (maxTokens == 0) return [.. Enumerable.Range(0, lengths.Count).Chunk(maxSequences)];
        var groups = new List<int[]>();
        var current = new List<int>();
        var width = 0;   // longest sequence of the current group: its first, since they come longest first
        foreach (var i in Enumerable.Range(0, lengths.Count).OrderByDescending(i => lengths[i]))
        {
            if (current.Count > 0 && (long)(current.Count + 1) * width > maxTokens)
            {
                groups.Add([.. current]);
                current.Clear();
            }
            if (current.Count == 0) width = lengths[i];
            current.Add(i);
        }
        if (current.Count > 0) groups.Add([.. current]);
        return groups;
    }

    /// <summary>The items of <see cref="Plan"/>'s groups; with no token budget exactly <c>items.Chunk(maxSequences)</c>.</summary>
    internal static IEnumerable<T[]> Split<T>(IReadOnlyList<T> items, Func<T, int> length, int maxSequences, int maxTokens) =>
        maxTokens == 0
            ? items.Chunk(maxSequences)
            : Plan([.. items.Select(length)], maxSequences, maxTokens).Select(g => g.Select(i => items[i]).ToArray());
}
