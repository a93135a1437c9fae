using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace RoRecomp.Tasks.Synthetic;

/// <summary>Options of <see cref="ZeroRlTask"/>.</summary>
/// <param name="Digits">Digits of each operand (2-4): operands are 10^(Digits-1) .. 10^Digits - 1.</param>
/// <param name="CorrectRate">SFT traces: probability that the answer is the true sum (else one digit is changed).</param>
/// <param name="MaxNotes">SFT traces: most notes in the think part (drawn uniformly from 0..MaxNotes).</param>
public sealed record ZeroRlOptions(int Digits = 2, double CorrectRate = 0.3, int MaxNotes = 3) : SyntheticOptions;

/// <summary>
/// Zero-RL analog: two-operand addition where the warm start learns only the format and RL must raise accuracy.
/// <para>Prompt: <c>a+b=</c> (default two-digit operands).</para>
/// <para>Response grammar:</para>
/// <code>
/// response := "&lt;think&gt;" note* "&lt;/think&gt;&lt;answer&gt;" N "&lt;/answer&gt;" ["&lt;eos&gt;"]
/// note     := (number ("+" number)* ("=" number)?) ";"
/// </code>
/// <para>Warm-start traces carry 0..MaxNotes notes, each drawn from: the restated problem <c>a+b;</c>, or one correct
/// column sum <c>x+y=s;</c> (digits of the same place, no carry). The notes are true but not a worked solution, and
/// the answer is independent of them: the true sum with probability <see cref="ZeroRlOptions.CorrectRate"/>, else the
/// sum with one digit changed (weakly correlated). So SFT teaches the format and a think part of variable length, not
/// the answer; the warm start is right well below 50% and RL must find how to use (or skip) the notes.</para>
/// <para>Verification: format-valid when the think part is a sequence of notes over digits, '+' and '=' and the answer
/// a number; correct when format-valid and the answer equals the sum.</para>
/// </summary>
public sealed class ZeroRlTask : IRlTask
{
    private readonly ZeroRlOptions _options;
    private readonly int _lo, _hi;
    private readonly ProblemSpace _space;

    /// <summary>Creates the task; throws <see cref="ArgumentOutOfRangeException"/> for options out of range.</summary>
    public ZeroRlTask(ZeroRlOptions? options = null)
    {
        _options = options ?? new ZeroRlOptions();
        _options.Validate(Name);
        if (_options.Digits is < 2 or > 4) throw new ArgumentOutOfRangeException(nameof(options), _options.Digits, "zero-rl: digits must be in 2..4.");
        if (_options.CorrectRate is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(options), _options.CorrectRate, "zero-rl: correct-rate must be in [0, 1].");
        if (_options.MaxNotes is < 0 or > 8) throw new ArgumentOutOfRangeException(nameof(options), _options.MaxNotes, "zero-rl: max-notes must be in 0..8.");
        _lo = (int)Math.Pow(10, _options.Digits - 1);
        _hi = (int)Math.Pow(10, _options.Digits) - 1;
        long width = _hi - _lo + 1;
        _space = new ProblemSpace(_options, width * width,
            i => ImmutableArray.Create(_lo + (i / width), _lo + (i % width)),
            rng => ImmutableArray.Create<long>(rng.Between(_lo, _hi), rng.Between(_lo, _hi)),
            o => $"{o[0]}+{o[1]}");
    }

    /// <inheritdoc />
    public string Name => "zero-rl";

    /// <inheritdoc />
    public string Alphabet => "0123456789+=;";

    /// <inheritdoc />
    public ImmutableArray<string> SpecialTokens => Tokens.Reasoning;

    /// <inheritdoc />
    public IToolEnvironment? Tools => null;

    /// <inheritdoc />
    public long DistinctPrompts(Split split) => _space.Count(split);

    /// <inheritdoc />
    public TaskPrompt GetPrompt(Split split, long index)
    {
        var ops = _space.Get(split, index);
        return new TaskPrompt(TaskPrompt.MakeId(split, index), split, index, $"{ops[0]}+{ops[1]}=",
            (ops[0] + ops[1]).ToString(CultureInfo.InvariantCulture), ops);
    }

    /// <inheritdoc />
    public string Trace(TaskPrompt prompt, Random rng)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(rng);
        long a = prompt.Operands[0], b = prompt.Operands[1];
        var sb = new StringBuilder(Tokens.ThinkOpen);
        int notes = rng.Next(_options.MaxNotes + 1);
        for (int i = 0; i < notes; i++)
        {
            int kind = rng.Next(_options.Digits + 1);
            if (kind == _options.Digits) sb.Append(a).Append('+').Append(b).Append(';');
            else
            {
                long p = (long)Math.Pow(10, kind), x = a / p % 10, y = b / p % 10;
                sb.Append(x).Append('+').Append(y).Append('=').Append(x + y).Append(';');
            }
        }
        long sum = a + b;
        string answer = rng.NextDouble() < _options.CorrectRate ? sum.ToString(CultureInfo.InvariantCulture) : ChangeOneDigit(sum, rng);
        sb.Append(Tokens.ThinkClose).Append(Tokens.AnswerOpen).Append(answer).Append(Tokens.AnswerClose).Append(Tokens.Eos);
        return sb.ToString();
    }

    /// <inheritdoc />
    public Verdict Verify(TaskPrompt prompt, string response)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (!ReasoningFormat.TrySplit(response, out var think, out var answer, out var problem))
            return Verdict.Invalid(problem!);
        if (think.Length > 0)
        {
            if (!think.EndsWith(';')) return new Verdict(0, false, false, 0, answer, 0, "think part does not end with ';'");
            foreach (var note in think[..^1].Split(';'))
                if (!IsNote(note)) return new Verdict(0, false, false, 0, answer, 0, $"note '{ReasoningFormat.Clip(note)}' is malformed");
        }
        bool correct = answer == prompt.Answer;
        return new Verdict(correct ? 1 : 0, correct, true, 0, answer);
    }

    private static bool IsNote(string note)
    {
        var sides = note.Split('=');
        if (sides.Length > 2) return false;
        if (!sides[0].Split('+').All(t => ReasoningFormat.TryNumber(t, out _))) return false;
        return sides.Length == 1 || ReasoningFormat.TryNumber(sides[1], out _);
    }

    private static string ChangeOneDigit(long value, Random rng)
    {
        var digits = value.ToString(CultureInfo.InvariantCulture).ToCharArray();
        int i = rng.Next(digits.Length);
        char d;
        do d = (char)('0' + rng.Next(10));
        while (d == digits[i] || (i == 0 && d == '0' && digits.Length > 1));
        digits[i] = d;
        return new string(digits);
    }
}
