namespace RoRecomp.Weights;

/// <summary>
/// Who fetches a version from whom. The fetchers of a version are numbered in the order they ask; fetcher 0 fetches
/// from the origin (the learner), fetcher k >= 1 from fetcher (k - 1) / fan-out, so the origin uploads one copy and each
/// fetcher at most fan-out copies. Fan-out 1 is a chain: every link carries the blob at its full rate, pipelined chunk by
/// chunk, so all fetchers finish about one chunk per hop after a single fetch would; a wider tree is shallower (fewer
/// hops to fail) but splits each relay's upload among its children.
/// </summary>
public static class RelayTree
{
    /// <summary>Ancestors tried before the origin: the parent, then the grandparent.</summary>
    public const int FallbackDepth = 2;

    /// <summary>
    /// The fetchers fetcher <paramref name="index"/> tries, nearest first, before the origin (at most
    /// <see cref="FallbackDepth"/>; none for fetcher 0 or a fan-out of 0, which turns relaying off).
    /// </summary>
    public static IReadOnlyList<int> Sources(int index, int fanOut)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfNegative(fanOut);
        var sources = new List<int>(FallbackDepth);
        if (fanOut == 0) return sources;
        for (var k = index; k > 0 && sources.Count < FallbackDepth;)
        {
            k = (k - 1) / fanOut;
            sources.Add(k);
        }
        return sources;
    }
}
