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
public sealed class ThinkingTask : IRlTask
{
    private readonly ThinkingOptions _options;
    private readonly ProblemSpace _space;

    /// <summary>Creates the task; throws <see cref="ArgumentOutOfRangeException"/> for options out of range.</summary>
    public ThinkingTask(ThinkingOptions? options = null)
    {
        _options = options ?? new ThinkingOptions();
        _options.Validate(Name);
        if (_options.Terms is < 2 or > 6) throw new ArgumentOutOfRangeException(nameof(options), _options.Terms, "thinking: terms must be in 2..6.");
        if (_options.MaxTerm is < 1 or > 99) throw new ArgumentOutOfRangeException(nameof(options), _options.MaxTerm, "thinking: max-term must be in 1..99.");
        if (_options.SlipRate is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(options), _options.SlipRate, "thinking: slip-rate must be in [0, 1].");
        var w = _options.EffectiveRecheckWeights;
        if (w.Any(x => x < 0 || double.IsNaN(x)) || w.Sum() <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), "thinking: recheck-weights must be non-negative with a positive sum.");
        int n = _options.Terms, b = _options.MaxTerm + 1;
        _space = new ProblemSpace(_options, (long)Math.Pow(b, n),
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
            },
            Key);
    }

    /// <inheritdoc />
    public string Name => "thinking";

    /// <inheritdoc />
    public string Alphabet => "0123456789+=;|";

    /// <inheritdoc />
    public ImmutableArray<string> SpecialTokens => Tokens.Reasoning;

    /// <inheritdoc />
    public IToolEnvironment? Tools => null;

    /// <summary>The options in effect.</summary>
    public ThinkingOptions Options => _options;

    /// <inheritdoc />
    public long DistinctPrompts(Split split) => _space.Count(split);

    /// <inheritdoc />
    public TaskPrompt GetPrompt(Split split, long index)
    {
        var terms = _space.Get(split, index);
        return new TaskPrompt(TaskPrompt.MakeId(split, index), split, index, Key(terms) + "=",
            terms.Sum().ToString(CultureInfo.InvariantCulture), terms);
    }

    /// <inheritdoc />
    public string Trace(TaskPrompt prompt, Random rng)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(rng);
        var terms = prompt.Operands;
        int rechecks = Draw(_options.EffectiveRecheckWeights, rng);
        var sb = new StringBuilder(Tokens.ThinkOpen);
        int slipAt = rng.NextDouble() < _options.SlipRate ? rng.Next(terms.Length - 1) : -1;
        long total = AppendPass(sb, terms, slipAt, rng);
        for (int r = 0; r < rechecks; r++)
        {
            sb.Append('|');
            total = AppendPass(sb, terms, -1, rng);
        }
        sb.Append(Tokens.ThinkClose).Append(Tokens.AnswerOpen).Append(total.ToString(CultureInfo.InvariantCulture))
          .Append(Tokens.AnswerClose).Append(Tokens.Eos);
        return sb.ToString();
    }

    /// <inheritdoc />
    public Verdict Verify(TaskPrompt prompt, string response)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (!ReasoningFormat.TrySplit(response, out var think, out var answer, out var problem))
            return Verdict.Invalid(problem!);
        var passes = think.Split('|');
        for (int p = 0; p < passes.Length; p++)
        {
            var err = CheckPass(passes[p], prompt.Operands);
            if (err is not null) return new Verdict(0, false, false, 0, answer, passes.Length - 1, $"pass {p + 1}: {err}");
        }
        bool correct = answer == prompt.Answer;
        return new Verdict(correct ? 1 : 0, correct, true, 0, answer, passes.Length - 1);
    }

    private static string Key(ImmutableArray<long> terms) => string.Join('+', terms);

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
