using RoRecomp.Core.Randomness;

namespace RoRecomp.Tasks;

/// <summary>
/// Deterministic randomness for prompt streams on <see cref="SplitMix64"/>: a generator keyed on (seed, split, index,
/// attempt), so a prompt depends only on its coordinates (no hidden state; any index can be generated first), and a
/// keyed hash that assigns every distinct problem to exactly one split.
/// </summary>
internal static class SplitRandom
{
    /// <summary>The generator of draw <paramref name="attempt"/> at <paramref name="index"/> of <paramref name="split"/>.</summary>
    public static SplitMix64 For(int seed, Split split, long index, int attempt) => new(StateFor(seed, split, index, attempt));

    /// <summary>The state <see cref="For"/> starts its generator at.</summary>
    public static ulong StateFor(int seed, Split split, long index, int attempt) =>
        SplitMix64.Mix(SplitMix64.Mix(SplitMix64.Mix((ulong)(uint)seed ^ SplitMix64.Gamma) ^ (ulong)split) ^ (ulong)index) ^ ((ulong)(uint)attempt << 32);

    /// <summary>The split a problem (given by its canonical key) belongs to: test for <paramref name="testPercent"/>% of keys.</summary>
    public static Split SplitOf(string key, int seed, int testPercent)
    {
        ulong h = SplitMix64.Mix((ulong)(uint)seed + 0x632BE59BD9B4E019UL);
        foreach (var c in key) h = SplitMix64.Mix(h ^ c);
        return (int)(h % 100) < testPercent ? Split.Test : Split.Train;
    }
}
