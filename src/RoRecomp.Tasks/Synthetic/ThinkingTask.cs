using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace RoRecomp.Tasks.Synthetic;

/// <summary>Options of <see cref="ThinkingTask"/>.</summary>
/// <param name="Terms">Number of terms in a prompt (2-6).</param>
/// <param name="MaxTerm">Largest term (terms are 0..MaxTerm, at most 99).</param>
/// <param name="SlipRate">SFT traces: probability that the first pass contains one wrong partial sum.</param>
/// <param name="RecheckWeights">SFT traces: relative weights of 0, 1, 2, ... re-checks (length = max re-checks + 1).</param>
public sealed record ThinkingOptions(int Terms = 3, int MaxTerm = 9, double SlipRate = 0.3, ImmutableArray<double> RecheckWeights = default)
    : SyntheticOptions
{
    /// <summary>The re-check weights in effect (uniform over 0..3 unless set).</summary>
    public ImmutableArray<double> EffectiveRecheckWeights => RecheckWeights.IsDefaultOrEmpty ? [1, 1, 1, 1] : RecheckWeights;
}

/// <summary>
/// Thinking-compression analog: multi-step sums whose warm-start traces carry re-checks that sometimes matter.
/// <para>Prompt: <c>a+b+c=</c> (default three terms 0..9).</para>
/// <para>Response grammar (tokens in angle brackets are single special tokens):</para>
/// <code>
/// response := "&lt;think&gt;" pass ("|" pass)* "&lt;/think&gt;&lt;answer&gt;" N "&lt;/answer&gt;" ["&lt;eos&gt;"]
/// pass     := step{terms-1}             step := x "+" y "=" s ";"
/// </code>
/// A pass adds the terms left to right: the first step's x and y are the first two terms, each later step's x is the
/// previous step's s and its y the next term. The first pass is the computation; every further pass is a
/// <b>re-check</b>: the whole chain computed again. The answer is the last pass's total.
/// <para>Warm-start traces: with probability <see cref="ThinkingOptions.SlipRate"/> the first pass slips (one partial
/// sum off by 1 or 2, later steps carried on from the wrong value); re-checks never slip, so a slip is caught and
/// corrected by any re-check, and the number of re-checks (drawn from <see cref="ThinkingOptions.RecheckWeights"/>)
/// is independent of the slip. Traces with no re-check are right with probability 1 - SlipRate, traces with one or
/// more always: verbosity pays, as in real reasoning, so shortening is not free for a plain GRPO baseline.</para>
/// <para>Verification: <see cref="Verdict.FormatValid"/> when the response follows the grammar (the arithmetic inside
/// the passes may be wrong; the operands must be the prompt's); <see cref="Verdict.Correct"/> when it is format-valid
/// and the answer equals the sum.</para>
/// </summary>
public sealed class ThinkingTask : SyntheticTask<ThinkingOptions>
{
    /// <summary>Creates the task; throws <see cref="ArgumentOutOfRangeException"/> for options out of range.</summary>
    public ThinkingTask(ThinkingOptions? options = null)
        : base("thinking", "0123456789+=;|", Tokens.Reasoning, options ?? new ThinkingOptions())
    {
        if (Options.Terms is < 2 or > 6) throw new ArgumentOutOfRangeException(nameof(options), Options.Terms, "thinking: terms must be in 2..6.");
        if (Options.MaxTerm is < 1 or > 99) throw new ArgumentOutOfRangeException(nameof(options), Options.MaxTerm, "thinking: max-term must be in 1..99.");
        if (Options.SlipRate is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(options), Options.SlipRate, "thinking: slip-rate must be in [0, 1].");
        var w = Options.EffectiveRecheckWeights;
        if (w.Any(x => x < 0 || double.IsNaN(x)) || w.Sum() <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), "thinking: recheck-weights must be non-negative with a positive sum.");
        int n = Options.Terms, b = Options.MaxTerm + 1;
        UseProblems((long)Math.Pow(b, n),
            i =>
            {
                var t = new long[n];
                for (int k = n - 1; k >= 0; k--) { t[k] = i % b; i /= b; }
                return ImmutableArray.Create(t);
            },
            rng =>
            {
                var t = new long[n];
                for (int k = 0; k < n; k++) t[k] = rng.Between(0, b - 1);
                return ImmutableArray.Create(t);
            });
    }

    /// <inheritdoc />
    private protected override string Key(ImmutableArray<long> operands) => string.Join('+', operands);

    /// <inheritdoc />
    private protected override long Evaluate(ImmutableArray<long> operands) => operands.Sum();

    /// <inheritdoc />
    private protected override string WriteThink(TaskPrompt prompt, Random rng, StringBuilder sb)
    {
        var terms = prompt.Operands;
        int rechecks = Draw(Options.EffectiveRecheckWeights, rng);
        int slipAt = rng.NextDouble() < Options.SlipRate ? rng.Next(terms.Length - 1) : -1;
        long total = AppendPass(sb, terms, slipAt, rng);
        for (int r = 0; r < rechecks; r++)
        {
            sb.Append('|');
            total = AppendPass(sb, terms, -1, rng);
        }
        return total.ToString(CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    private protected override string? CheckThink(TaskPrompt prompt, string think)
    {
        var passes = think.Split('|');
        for (int p = 0; p < passes.Length; p++)
        {
            var err = CheckPass(passes[p], prompt.Operands);
            if (err is not null) return $"pass {p + 1}: {err}";
        }
        return null;
    }

    /// <summary>Every pass after the first is a re-check.</summary>
    private protected override int CountRechecks(string think) => think.Split('|').Length - 1;

    private static long AppendPass(StringBuilder sb, ImmutableArray<long> terms, int slipAt, Random rng)
    {
        long acc = terms[0];
        for (int i = 1; i < terms.Length; i++)
        {
            long s = acc + terms[i];
            if (i - 1 == slipAt)
            {
                long delta = rng.Next(2) == 0 ? rng.Next(1, 3) : -rng.Next(1, 3);
                s = s + delta >= 0 ? s + delta : s - delta;
            }
            sb.Append(acc).Append('+').Append(terms[i]).Append('=').Append(s).Append(';');
            acc = s;
        }
        return acc;
    }

    /// <summary>Checks one pass's structure: steps chained on the prompt's terms (arithmetic may be wrong).</summary>
    private static string? CheckPass(string pass, ImmutableArray<long> terms)
    {
        var steps = pass.Split(';');
        if (steps.Length != terms.Length || steps[^1].Length != 0) return $"expected {terms.Length - 1} steps 'x+y=s;'";
        long? prev = null;
        for (int i = 0; i < terms.Length - 1; i++)
        {
            var step = steps[i];
            int plus = step.IndexOf('+', StringComparison.Ordinal), eq = step.IndexOf('=', StringComparison.Ordinal);
            if (plus <= 0 || eq <= plus + 1 || eq == step.Length - 1) return $"step {i + 1} '{step}' is not 'x+y=s'";
            if (!ReasoningFormat.TryNumber(step[..plus], out var x) || !ReasoningFormat.TryNumber(step[(plus + 1)..eq], out var y)
                || !ReasoningFormat.TryNumber(step[(eq + 1)..], out var s))
                return $"step {i + 1} '{step}' has a malformed number";
            long expectedX = prev ?? terms[0];
            if (x != expectedX || y != terms[i + 1]) return $"step {i + 1} '{step}' does not continue the chain";
            prev = s;
        }
        return null;
    }

    private static int Draw(ImmutableArray<double> weights, Random rng)
    {
        double u = rng.NextDouble() * weights.Sum();
        for (int i = 0; i < weights.Length; i++)
        {
            u -= weights[i];
            if (u < 0) return i;
        }
        return weights.Length - 1;
    }
}
