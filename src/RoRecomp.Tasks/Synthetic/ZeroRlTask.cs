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
public sealed class ZeroRlTask : SyntheticTask<ZeroRlOptions>
{
    private readonly int _lo, _hi;

    /// <summary>Creates the task; throws <see cref="ArgumentOutOfRangeException"/> for options out of range.</summary>
    public ZeroRlTask(ZeroRlOptions? options = null)
        : base("zero-rl", "0123456789+=;", Tokens.Reasoning, options ?? new ZeroRlOptions())
    {
        if (Options.Digits is < 2 or > 4) throw new ArgumentOutOfRangeException(nameof(options), Options.Digits, "zero-rl: digits must be in 2..4.");
        if (Options.CorrectRate is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(options), Options.CorrectRate, "zero-rl: correct-rate must be in [0, 1].");
        if (Options.MaxNotes is < 0 or > 8) throw new ArgumentOutOfRangeException(nameof(options), Options.MaxNotes, "zero-rl: max-notes must be in 0..8.");
        _lo = (int)Math.Pow(10, Options.Digits - 1);
        _hi = (int)Math.Pow(10, Options.Digits) - 1;
        long width = _hi - _lo + 1;
        UseProblems(width * width,
            i => ImmutableArray.Create(_lo + (i / width), _lo + (i % width)),
            rng => ImmutableArray.Create<long>(rng.Between(_lo, _hi), rng.Between(_lo, _hi)));
    }

    /// <inheritdoc />
    private protected override string Key(ImmutableArray<long> operands) => $"{operands[0]}+{operands[1]}";

    /// <inheritdoc />
    private protected override long Evaluate(ImmutableArray<long> operands) => operands[0] + operands[1];

    /// <inheritdoc />
    private protected override string WriteThink(TaskPrompt prompt, Random rng, StringBuilder sb)
    {
        long a = prompt.Operands[0], b = prompt.Operands[1];
        int notes = rng.Next(Options.MaxNotes + 1);
        for (int i = 0; i < notes; i++)
        {
            int kind = rng.Next(Options.Digits + 1);
            if (kind == Options.Digits) sb.Append(a).Append('+').Append(b).Append(';');
            else
            {
                long p = (long)Math.Pow(10, kind), x = a / p % 10, y = b / p % 10;
                sb.Append(x).Append('+').Append(y).Append('=').Append(x + y).Append(';');
            }
        }
        long sum = a + b;
        return rng.NextDouble() < Options.CorrectRate ? sum.ToString(CultureInfo.InvariantCulture) : ChangeOneDigit(sum, rng);
    }

    /// <inheritdoc />
    private protected override string? CheckThink(TaskPrompt prompt, string think)
    {
        if (think.Length == 0) return null;
        if (!think.EndsWith(';')) return "think part does not end with ';'";
        foreach (var note in think[..^1].Split(';'))
            if (!IsNote(note)) return $"note '{ReasoningFormat.Clip(note)}' is malformed";
        return null;
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
