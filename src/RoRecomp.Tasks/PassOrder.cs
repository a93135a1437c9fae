using RoRecomp.Core.Randomness;

namespace RoRecomp.Tasks;

/// <summary>
/// An endless stream of passes over n items, each pass in its own seeded order (a Fisher-Yates shuffle driven by a
/// <see cref="SplitMix64"/>), so index i of the stream is always the same item. Shared by the enumerated synthetic
/// problem spaces and the datasets. The order of the last pass is cached (a stream is read pass by pass); it is a pure
/// function of (generator state, n) and is swapped in as one immutable tuple, so the cache is thread-safe.
/// </summary>
internal sealed class PassOrder
{
    private volatile Tuple<ulong, int[]>? _last;

    /// <summary>
    /// The item (0..<paramref name="n"/>-1) at <paramref name="index"/> (>= 0) of the stream, where pass p is shuffled by
    /// a generator with state <paramref name="stateOfPass"/>(p).
    /// </summary>
    public int ItemAt(long index, int n, Func<long, ulong> stateOfPass)
    {
        ulong state = stateOfPass(index / n);
        var cached = _last;
        if (cached is null || cached.Item1 != state || cached.Item2.Length != n)
        {
            var order = new int[n];
            for (int k = 0; k < n; k++) order[k] = k;
            var rng = new SplitMix64(state);
            for (int k = n - 1; k > 0; k--)
            {
                int j = (int)(rng.Next() % (ulong)(k + 1));
                (order[k], order[j]) = (order[j], order[k]);
            }
            cached = Tuple.Create(state, order);
            _last = cached;
        }
        return cached.Item2[(int)(index % n)];
    }
}
