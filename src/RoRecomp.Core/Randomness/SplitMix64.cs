namespace RoRecomp.Core.Randomness;

/// <summary>
/// SplitMix64 (Steele, Lea and Flood 2014): a 64-bit state advanced by a fixed odd increment and passed through
/// <see cref="Mix"/>. Tiny, fast and fully determined by its state, so a stream can be keyed on coordinates (seed,
/// index, ...) with no hidden state; also used as a stand-alone mixer to derive seeds. A mutable struct: copies advance
/// independently.
/// </summary>
public struct SplitMix64
{
    /// <summary>The state increment (the 64-bit golden ratio), also a handy odd constant to spread a small seed.</summary>
    public const ulong Gamma = 0x9E3779B97F4A7C15UL;

    private ulong _state;

    /// <summary>A generator whose first <see cref="Next"/> is <c>Mix(state + Gamma)</c>.</summary>
    public SplitMix64(ulong state) => _state = state;

    /// <summary>Advances the state and returns the next 64 random bits.</summary>
    public ulong Next()
    {
        _state = unchecked(_state + Gamma);
        return Mix(_state);
    }

    /// <summary>Uniform in [<paramref name="min"/>, <paramref name="max"/>] inclusive (modulo reduction, as the streams always did).</summary>
    public int Between(int min, int max) => min + (int)(Next() % (ulong)(max - min + 1));

    /// <summary>The SplitMix64 finaliser: a bijective mix of all 64 bits (0 maps to 0).</summary>
    public static ulong Mix(ulong z)
    {
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }
}
