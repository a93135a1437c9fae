using System.Collections.Immutable;
using RoRecomp.Core.Randomness;

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
    public static T Draw<T>(SyntheticOptions options, Split split, long index, Func<SplitMix64, T> candidate, Func<T, string> key)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        for (int attempt = 0; ; attempt++)
        {
            var value = candidate(SplitRandom.For(options.Seed, split, index, attempt));
            if (SplitRandom.SplitOf(key(value), options.Seed, options.TestPercent) == split) return value;
        }
    }
}
