using System.Collections.Immutable;

namespace RoRecomp.Tasks.Synthetic;

/// <summary>The special-token strings of the synthetic tasks; the character tokenizer maps each to a single token.</summary>
public static class Tokens
{
    /// <summary>Opens the reasoning part.</summary>
    public const string ThinkOpen = "<think>";

    /// <summary>Closes the reasoning part.</summary>
    public const string ThinkClose = "</think>";

    /// <summary>Opens the final answer.</summary>
    public const string AnswerOpen = "<answer>";

    /// <summary>Closes the final answer.</summary>
    public const string AnswerClose = "</answer>";

    /// <summary>Opens a tool call (agentic task).</summary>
    public const string ToolOpen = "<tool>";

    /// <summary>Closes a tool call; the sampler stops here and asks the environment.</summary>
    public const string ToolClose = "</tool>";

    /// <summary>Opens a tool result (inserted by the environment).</summary>
    public const string ResultOpen = "<result>";

    /// <summary>Closes a tool result.</summary>
    public const string ResultClose = "</result>";

    /// <summary>End of sequence.</summary>
    public const string Eos = "<eos>";

    /// <summary>The tokens of the non-agentic synthetic tasks.</summary>
    public static readonly ImmutableArray<string> Reasoning = [ThinkOpen, ThinkClose, AnswerOpen, AnswerClose, Eos];

    /// <summary>The tokens of the agentic task.</summary>
    public static readonly ImmutableArray<string> Agentic = [ThinkOpen, ThinkClose, AnswerOpen, AnswerClose, ToolOpen, ToolClose, ResultOpen, ResultClose, Eos];

    /// <summary>Strips one trailing <see cref="Eos"/> (and whitespace) if present: the sampler may or may not include it.</summary>
    internal static string TrimEos(string response)
    {
        var s = response.TrimEnd();
        return s.EndsWith(Eos, StringComparison.Ordinal) ? s[..^Eos.Length] : s;
    }
}

/// <summary>
/// Deterministic randomness for prompt streams: SplitMix64 over (seed, split, index, attempt), so a prompt depends only
/// on its coordinates (no hidden state; any index can be generated first), and a keyed hash that assigns every distinct
/// problem to exactly one split.
/// </summary>
internal struct SplitMix
{
    private ulong _state;

    public SplitMix(ulong state) => _state = state;

    public static SplitMix For(int seed, Split split, long index, int attempt) =>
        new(Mix(Mix(Mix((ulong)(uint)seed ^ 0x9E3779B97F4A7C15UL) ^ (ulong)split) ^ (ulong)index) ^ ((ulong)(uint)attempt << 32));

    public ulong Next()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    /// <summary>Uniform in [min, max] inclusive.</summary>
    public int Between(int min, int max) => min + (int)(Next() % (ulong)(max - min + 1));

    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The split a problem (given by its canonical key) belongs to: test for <paramref name="testPercent"/>% of keys.</summary>
    public static Split SplitOf(string key, int seed, int testPercent)
    {
        ulong h = Mix((ulong)(uint)seed + 0x632BE59BD9B4E019UL);
        foreach (var c in key) h = Mix(h ^ c);
        return (int)(h % 100) < testPercent ? Split.Test : Split.Train;
    }
}

/// <summary>Options every synthetic task shares.</summary>
/// <param name="Seed">Data seed: changes which problems are in which split and the order of the streams.</param>
/// <param name="TestPercent">Share of distinct problems held out for the test split (1-50).</param>
public record SyntheticOptions(int Seed = 0, int TestPercent = 10)
{
    internal void Validate(string task)
    {
        if (TestPercent is < 1 or > 50)
            throw new ArgumentOutOfRangeException(nameof(TestPercent), TestPercent, $"Task '{task}': test-percent must be in 1..50.");
    }
}

/// <summary>Draws problems from a split by rejection on the split hash; shared by the synthetic tasks.</summary>
internal static class SplitSampler
{
    /// <summary>Draws candidates until one belongs to <paramref name="split"/>. Deterministic in (seed, split, index).</summary>
    public static T Draw<T>(SyntheticOptions options, Split split, long index, Func<SplitMix, T> candidate, Func<T, string> key)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        for (int attempt = 0; ; attempt++)
        {
            var value = candidate(SplitMix.For(options.Seed, split, index, attempt));
            if (SplitMix.SplitOf(key(value), options.Seed, options.TestPercent) == split) return value;
        }
    }
}
