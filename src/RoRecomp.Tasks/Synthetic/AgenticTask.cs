using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using RoRecomp.Tasks.Tools;

namespace RoRecomp.Tasks.Synthetic;

/// <summary>Options of <see cref="AgenticTask"/>.</summary>
/// <param name="NoToolRate">SFT traces: probability of computing the product mentally (no tool call).</param>
/// <param name="MentalSlipRate">SFT traces: probability that a mental product is wrong.</param>
/// <param name="RepeatRate">SFT traces: probability of calling the same product again (an unnecessary call).</param>
/// <param name="TrivialCallRate">SFT traces: probability of calling the tool for the trivial final addition (unnecessary).</param>
/// <param name="Tool">The tool's bounds.</param>
public sealed record AgenticOptions(
    double NoToolRate = 0.15,
    double MentalSlipRate = 0.5,
    double RepeatRate = 0.3,
    double TrivialCallRate = 0.4,
    CalcToolOptions? Tool = null) : SyntheticOptions;

/// <summary>
/// Agentic analog: a product a small model cannot do reliably by itself plus a trivial addition, with a calculator tool.
/// <para>Prompt: <c>a*b+c=</c> with a in 11..99, b in 2..9, c in 1..9.</para>
/// <para>Response grammar (results are inserted by <see cref="CalcToolEnvironment"/>, not sampled):</para>
/// <code>
/// response := "&lt;think&gt;" item* "&lt;/think&gt;&lt;answer&gt;" N "&lt;/answer&gt;" ["&lt;eos&gt;"]
/// item     := "&lt;tool&gt;calc:" expr "&lt;/tool&gt;&lt;result&gt;" value "&lt;/result&gt;"  |  note
/// note     := number ("+" | "*") number "=" number ";"
/// </code>
/// <para>Warm-start traces: with probability NoToolRate the product is written as a mental note (wrong with probability
/// MentalSlipRate); otherwise the product is asked of the tool (the one necessary call), asked again with probability
/// RepeatRate, and the trivial addition is asked of the tool with probability TrivialCallRate instead of being written
/// as a note. So traces make 0-3 calls; with no call they are right half the time, with one or more always: one call is
/// worth it, the second and third are unnecessary.</para>
/// <para>Verification: format-valid when the items follow the grammar and every result is what the environment
/// answers to its call (a result the model wrote itself is invalid); correct when format-valid and the answer is right.
/// <see cref="Verdict.ToolCalls"/> counts the calls; <see cref="UnnecessaryCalls"/> counts those beyond the one that asks
/// for the product.</para>
/// </summary>
public sealed class AgenticTask : SyntheticTask<AgenticOptions>, IToolCallAudit
{
    private readonly CalcToolEnvironment _tools;

    /// <summary>Creates the task; throws <see cref="ArgumentOutOfRangeException"/> for options out of range.</summary>
    public AgenticTask(AgenticOptions? options = null)
        : base("agentic", "0123456789+-*/()=;: abcdefghijklmnopqrstuvwxyz", Tokens.Agentic, options ?? new AgenticOptions())
    {
        foreach (var (name, p) in new[] { ("no-tool-rate", Options.NoToolRate), ("mental-slip-rate", Options.MentalSlipRate),
                     ("repeat-rate", Options.RepeatRate), ("trivial-call-rate", Options.TrivialCallRate) })
            if (p is < 0 or > 1 || double.IsNaN(p)) throw new ArgumentOutOfRangeException(nameof(options), p, $"agentic: {name} must be in [0, 1].");
        _tools = new CalcToolEnvironment(Options.Tool);
        UseProblems(89 * 8 * 9,
            i => ImmutableArray.Create(11 + (i / 72), 2 + (i / 9 % 8), 1 + (i % 9)),
            rng => ImmutableArray.Create<long>(rng.Between(11, 99), rng.Between(2, 9), rng.Between(1, 9)));
    }

    /// <inheritdoc />
    public override IToolEnvironment? Tools => _tools;

    /// <summary>
    /// The calls of <paramref name="response"/> other than the first answered one that asks for the product <c>a*b</c> (or
    /// <c>b*a</c>, alone or inside a larger expression): repeats, the trivial addition, errors, anything else
    /// (<see cref="ToolTrace.AuditCalls"/> with the product as the one step that needs the tool).
    /// </summary>
    public int UnnecessaryCalls(TaskPrompt prompt, string response)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var (calls, necessary, _) = ToolTrace.AuditCalls(response, _tools, [(prompt.Operands[0], prompt.Operands[1])], sumNeedsTool: false);
        return calls - necessary;
    }

    /// <inheritdoc />
    private protected override string Key(ImmutableArray<long> operands) => $"{operands[0]}*{operands[1]}+{operands[2]}";

    /// <inheritdoc />
    private protected override long Evaluate(ImmutableArray<long> operands) => (operands[0] * operands[1]) + operands[2];

    /// <inheritdoc />
    private protected override string WriteThink(TaskPrompt prompt, Random rng, StringBuilder sb)
    {
        long a = prompt.Operands[0], b = prompt.Operands[1], c = prompt.Operands[2];
        long product = a * b;
        if (rng.NextDouble() < Options.NoToolRate)
        {
            if (rng.NextDouble() < Options.MentalSlipRate) product += rng.Next(2) == 0 ? rng.Next(1, 11) : -rng.Next(1, 11);
            sb.Append(a).Append('*').Append(b).Append('=').Append(product).Append(';');
        }
        else
        {
            AppendCall(sb, $"{a}*{b}");
            if (rng.NextDouble() < Options.RepeatRate) AppendCall(sb, $"{a}*{b}");
        }
        long answer = product + c;
        if (sb.ToString().Contains(Tokens.ToolOpen, StringComparison.Ordinal) && rng.NextDouble() < Options.TrivialCallRate)
            AppendCall(sb, $"{product}+{c}");
        else sb.Append(product).Append('+').Append(c).Append('=').Append(answer).Append(';');
        return answer.ToString(CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    private protected override int CountToolCalls(string? response) => CalcToolEnvironment.CountCalls(response ?? "");

    private void AppendCall(StringBuilder sb, string expression) => ToolTrace.AppendCall(sb, _tools, expression);

    /// <inheritdoc />
    private protected override string? CheckThink(TaskPrompt prompt, string think) => ToolTrace.Check(think, _tools);
}
