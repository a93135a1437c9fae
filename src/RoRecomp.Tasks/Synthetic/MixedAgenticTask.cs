using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using RoRecomp.Core.Randomness;
using RoRecomp.Tasks.Tools;

namespace RoRecomp.Tasks.Synthetic;

/// <summary>Options of <see cref="MixedAgenticTask"/>.</summary>
/// <param name="ThreeTermRate">Problems: probability of three products instead of two.</param>
/// <param name="HardRate">Problems: probability that a product is hard (11..99 times 2..9) rather than easy (2..9 times 2..9).</param>
/// <param name="NoToolRate">SFT traces: probability of computing a hard product mentally (no tool call).</param>
/// <param name="MentalSlipRate">SFT traces: probability that a mental hard product is wrong.</param>
/// <param name="RepeatRate">SFT traces: probability of calling the same hard product again (an unnecessary call).</param>
/// <param name="EasyCallRate">SFT traces: probability of calling the tool for an easy product (unnecessary).</param>
/// <param name="SumCallRate">SFT traces: probability of calling the tool for the final sum, else chained addition notes. The
/// default 1 always calls: a sum of two-to-three-digit products is multi-digit addition, which the tiny policy does not learn
/// in a cheap warm start (with notes it stayed near 0% held-out accuracy), so for this policy the sum is a step that needs the tool.</param>
/// <param name="Tool">The tool's bounds; null = the calculator's defaults with 8 calls per episode (a trace makes up to 7).</param>
public sealed record MixedAgenticOptions(
    double ThreeTermRate = 0.5,
    double HardRate = 0.5,
    double NoToolRate = 0.25,
    double MentalSlipRate = 0.6,
    double RepeatRate = 0.25,
    double EasyCallRate = 0.5,
    double SumCallRate = 1.0,
    CalcToolOptions? Tool = null) : SyntheticOptions;

/// <summary>What the calls of one response did, by <see cref="MixedAgenticTask.Audit"/>.</summary>
/// <param name="Calls">Tool calls in the response (<see cref="Verdict.ToolCalls"/>).</param>
/// <param name="Necessary">Calls that got a value and asked for a hard product of the prompt not asked before, or were the first call that adds.</param>
/// <param name="Unnecessary">The other calls: easy products, repeats, further sums, errors, products not in the prompt.</param>
/// <param name="HardTerms">Hard products in the prompt: the necessary calls of a one-call-per-hard-product solution.</param>
/// <param name="HardNotAsked">Hard products of the prompt no call asked for (done mentally, or not at all).</param>
public sealed record CallAudit(int Calls, int Necessary, int Unnecessary, int HardTerms, int HardNotAsked);

/// <summary>
/// Agentic analog with accuracy headroom: a sum of two or three products, each easy (a times-table fact the model does
/// mentally without error) or hard (a two-digit number times a digit, which it cannot do reliably), with a calculator
/// tool. Some steps need the tool and some do not, and the mix of two/three terms and zero to three hard products gives
/// problems of several difficulties (see the task README).
/// <para>Prompt: <c>x1*y1+x2*y2[+x3*y3]=</c>; a term is hard (x in 11..99, y in 2..9) with probability HardRate, else
/// easy (x, y in 2..9).</para>
/// <para>Response grammar: that of <see cref="AgenticTask"/> (tool calls with the environment's results, notes
/// <c>x*y=p;</c> / <c>x+y=s;</c>, then the answer).</para>
/// <para>Warm-start traces, term by term: a hard product is asked of the tool (the necessary call), asked again with
/// probability RepeatRate, or with probability NoToolRate written as a mental note that is wrong with probability
/// MentalSlipRate; an easy product is written as a (correct) note, or asked of the tool with probability EasyCallRate.
/// Then the sum: one call for the whole sum with probability SumCallRate (by default always), else chained notes (always
/// right). So a trace makes 1-7 calls by default, is right whenever every hard product was asked of the tool, and its unnecessary calls never change
/// its answer.</para>
/// <para>Verification: as <see cref="AgenticTask"/>; <see cref="Verdict.ToolCalls"/> counts the calls and
/// <see cref="Audit"/> splits them into necessary and unnecessary ones.</para>
/// </summary>
public sealed class MixedAgenticTask : SyntheticTask<MixedAgenticOptions>, IToolCallAudit
{
    /// <summary>Distinct terms: 64 easy (2..9 x 2..9) then 712 hard (11..99 x 2..9).</summary>
    private const long Terms = 64 + (89 * 8);

    private readonly CalcToolEnvironment _tools;

    /// <summary>Creates the task; throws <see cref="ArgumentOutOfRangeException"/> for options out of range.</summary>
    public MixedAgenticTask(MixedAgenticOptions? options = null)
        : base("agentic-mixed", "0123456789+-*/()=;: abcdefghijklmnopqrstuvwxyz", Tokens.Agentic, options ?? new MixedAgenticOptions())
    {
        foreach (var (name, p) in new[] { ("three-term-rate", Options.ThreeTermRate), ("hard-rate", Options.HardRate),
                     ("no-tool-rate", Options.NoToolRate), ("mental-slip-rate", Options.MentalSlipRate), ("repeat-rate", Options.RepeatRate),
                     ("easy-call-rate", Options.EasyCallRate), ("sum-call-rate", Options.SumCallRate) })
            if (p is < 0 or > 1 || double.IsNaN(p)) throw new ArgumentOutOfRangeException(nameof(options), p, $"agentic-mixed: {name} must be in [0, 1].");
        _tools = new CalcToolEnvironment(Options.Tool ?? new CalcToolOptions(MaxCalls: 8));
        UseProblems((Terms * Terms) + (Terms * Terms * Terms), Nth, Draw);
    }

    /// <inheritdoc />
    public override IToolEnvironment? Tools => _tools;

    /// <summary>Whether a product x*y of this task is hard (needs the tool): a two-digit factor.</summary>
    public static bool IsHard(long x, long y) => x >= 10 || y >= 10;

    /// <summary>The hard products of <paramref name="prompt"/>: the calls a one-call-per-hard-product solution needs.</summary>
    public static int HardTerms(TaskPrompt prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        int n = 0;
        for (int i = 0; i + 1 < prompt.Operands.Length; i += 2) if (IsHard(prompt.Operands[i], prompt.Operands[i + 1])) n++;
        return n;
    }

    /// <summary>
    /// Splits the calls of <paramref name="response"/> into necessary and unnecessary ones. A call is necessary when the
    /// tool answered it with a value and its expression asks for a hard product of the prompt (as <c>x*y</c> or
    /// <c>y*x</c>) that no earlier call asked for, or it is the first such call that adds (has a <c>+</c>: the sum, a
    /// multi-digit addition the tiny policy cannot do mentally); one call doing several of these (the whole expression)
    /// counts once. Every other call is unnecessary: a repeat, an easy product, a further sum, an error, a product not in the prompt.
    /// </summary>
    public CallAudit Audit(TaskPrompt prompt, string response)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var hard = new List<(long, long)>();
        for (int i = 0; i + 1 < prompt.Operands.Length; i += 2)
            if (IsHard(prompt.Operands[i], prompt.Operands[i + 1])) hard.Add((prompt.Operands[i], prompt.Operands[i + 1]));
        var (calls, necessary, notAsked) = ToolTrace.AuditCalls(response, _tools, hard, sumNeedsTool: true);
        return new CallAudit(calls, necessary, calls - necessary, hard.Count, notAsked);
    }

    /// <inheritdoc />
    public int UnnecessaryCalls(TaskPrompt prompt, string response) => Audit(prompt, response).Unnecessary;

    /// <inheritdoc />
    private protected override string Key(ImmutableArray<long> operands)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < operands.Length; i += 2)
            sb.Append(i == 0 ? "" : "+").Append(operands[i].ToString(CultureInfo.InvariantCulture)).Append('*').Append(operands[i + 1].ToString(CultureInfo.InvariantCulture));
        return sb.ToString();
    }

    /// <inheritdoc />
    private protected override long Evaluate(ImmutableArray<long> operands)
    {
        long sum = 0;
        for (int i = 0; i < operands.Length; i += 2) sum += operands[i] * operands[i + 1];
        return sum;
    }

    /// <inheritdoc />
    private protected override string WriteThink(TaskPrompt prompt, Random rng, StringBuilder sb)
    {
        var products = new List<long>();
        for (int i = 0; i < prompt.Operands.Length; i += 2)
        {
            long x = prompt.Operands[i], y = prompt.Operands[i + 1], p = x * y;
            bool mental = IsHard(x, y) ? rng.NextDouble() < Options.NoToolRate : rng.NextDouble() >= Options.EasyCallRate;
            if (mental)
            {
                if (IsHard(x, y) && rng.NextDouble() < Options.MentalSlipRate) p += rng.Next(2) == 0 ? rng.Next(1, 11) : -rng.Next(1, 11);
                sb.Append(x).Append('*').Append(y).Append('=').Append(p).Append(';');
            }
            else
            {
                ToolTrace.AppendCall(sb, _tools, $"{x}*{y}");
                if (IsHard(x, y) && rng.NextDouble() < Options.RepeatRate) ToolTrace.AppendCall(sb, _tools, $"{x}*{y}");
            }
            products.Add(p);
        }
        long total = products.Sum();
        if (rng.NextDouble() < Options.SumCallRate) ToolTrace.AppendCall(sb, _tools, string.Join('+', products));
        else
        {
            long s = products[0];
            foreach (var p in products.Skip(1))
            {
                sb.Append(s).Append('+').Append(p).Append('=').Append(s + p).Append(';');
                s += p;
            }
        }
        return total.ToString(CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    private protected override int CountToolCalls(string? response) => CalcToolEnvironment.CountCalls(response ?? "");

    /// <inheritdoc />
    private protected override string? CheckThink(TaskPrompt prompt, string think) => ToolTrace.Check(think, _tools);

    private static (long X, long Y) TermAt(long t) => t < 64 ? (2 + (t / 8), 2 + (t % 8)) : (11 + ((t - 64) / 8), 2 + ((t - 64) % 8));

    /// <summary>The n-th problem: the two-term problems in base-<see cref="Terms"/> order, then the three-term ones.</summary>
    private static ImmutableArray<long> Nth(long n)
    {
        int k = n < Terms * Terms ? 2 : 3;
        if (k == 3) n -= Terms * Terms;
        var b = ImmutableArray.CreateBuilder<long>(2 * k);
        for (int i = 0; i < k; i++, n /= Terms)
        {
            var (x, y) = TermAt(n % Terms);
            b.Add(x);
            b.Add(y);
        }
        return b.MoveToImmutable();
    }

    private ImmutableArray<long> Draw(SplitMix64 rng)
    {
        int k = Unit(ref rng) < Options.ThreeTermRate ? 3 : 2;
        var b = ImmutableArray.CreateBuilder<long>(2 * k);
        for (int i = 0; i < k; i++)
        {
            bool hard = Unit(ref rng) < Options.HardRate;
            b.Add(hard ? rng.Between(11, 99) : rng.Between(2, 9));
            b.Add(rng.Between(2, 9));
        }
        return b.MoveToImmutable();
    }

    private static double Unit(ref SplitMix64 rng) => (rng.Next() >> 11) * (1.0 / (1UL << 53));
}
