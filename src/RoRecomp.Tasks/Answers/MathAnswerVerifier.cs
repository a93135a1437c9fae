using System.Text;
using System.Text.RegularExpressions;

namespace RoRecomp.Tasks.Answers;

/// <summary>
/// Verifies a real model's final answer to a math problem against a reference answer, toward the conventions of
/// Hugging Face's Math-Verify (scope, and what is not accepted: src/RoRecomp.Tasks/README.md).
/// <para>Extraction (<see cref="ExtractAnswer"/>), first that applies: the last <c>\boxed{…}</c> (or <c>\fbox{…}</c>,
/// nested braces matched), the last <c>&lt;answer&gt;…&lt;/answer&gt;</c>, the last GSM8K-style <c>#### …</c> line, the
/// last "answer is …" (up to the end of its line, a trailing period dropped); else the bare final answer: the last
/// number in the text ("she has 5 apples" gives 5) or the last math environment (<c>\(…\)</c>, <c>\[…\]</c>,
/// <c>$…$</c>, <c>$$…$$</c>), whichever closes last.</para>
/// <para>Normalisation (<see cref="Normalize"/>): drops <c>$</c> and other currency signs, math delimiters,
/// <c>\left</c>/<c>\right</c>, spacing commands (<c>\! \, \; \: \quad ~</c>), <c>\displaystyle</c>, degree marks, percent
/// signs (so "50\%" equals "50"), <c>\text{…}</c> and similar (unwrapped when they hold a number or are the whole answer,
/// dropped as units otherwise, with a square or cube), words separated by spaces ("dollars", "cm", "cm^2"), a leading
/// "x =", thousands separators (<c>1,000</c>, <c>1{,}000</c>, <c>10,\!000</c>, <c>1\,000</c>) and white space, except
/// between two digits: "10 20" or "3 and 4" never become 1020 or 34. A comma that is not a thousands separator in an
/// answer that is one number is a decimal comma ("3,5" is 3.5).</para>
/// <para>Equivalence (<see cref="Equivalent"/>): both sides evaluated by an exact rational evaluator
/// (<c>\frac</c>, <c>\dfrac</c>, <c>\cfrac</c>, <c>\sqrt</c> of perfect squares, powers, + - * /, scientific notation
/// <c>1.5e3</c> and <c>1.5 \times 10^3</c>); equal when the rationals are equal, or, when a decimal literal or an
/// irrational (√, π) is involved, when the relative difference is at most the tolerance. When either side is not a
/// number (tuples, intervals, expressions with variables) the normalised strings are compared.</para>
/// <para>Never throws on model output: bounded input sizes, bounded nesting, and a last-resort catch.</para>
/// </summary>
public sealed partial class MathAnswerVerifier
{
    /// <summary>Longest extracted answer evaluated; longer ones are only compared as strings.</summary>
    public const int MaxAnswerChars = 2_000;

    /// <summary>Longest answer normalised at all; longer ones are only compared verbatim.</summary>
    public const int MaxRawChars = 32_000;

    /// <summary>Creates a verifier.</summary>
    /// <param name="relativeTolerance">Relative tolerance when a decimal or irrational value is involved (default 1e-4).</param>
    public MathAnswerVerifier(double relativeTolerance = 1e-4)
    {
        if (relativeTolerance is < 0 or >= 1 || double.IsNaN(relativeTolerance))
            throw new ArgumentOutOfRangeException(nameof(relativeTolerance), relativeTolerance, "relative tolerance must be in [0, 1).");
        RelativeTolerance = relativeTolerance;
    }

    /// <summary>Relative tolerance for decimal or irrational comparisons.</summary>
    public double RelativeTolerance { get; }

    /// <summary>Scores <paramref name="response"/> against <paramref name="reference"/> (an answer, not a solution).</summary>
    public Verdict Verify(string? response, string reference)
    {
        try
        {
            var answer = ExtractAnswer(response);
            if (answer is null) return Verdict.Invalid("no final answer found (\\boxed{}, <answer>, ####, 'answer is', a math environment or a number)");
            bool correct = Equivalent(answer, reference);
            return new Verdict(correct ? 1 : 0, correct, true, 0, answer);
        }
#pragma warning disable CA1031 // Model output is arbitrary: a verifier bug must cost one reward, not the run.
        catch (Exception e)
#pragma warning restore CA1031
        {
            return Verdict.Invalid($"verifier error: {e.GetType().Name}");
        }
    }

    /// <summary>The final answer in <paramref name="text"/>, or null (see the class remarks for the order).</summary>
    public static string? ExtractAnswer(string? text)
    {
        if (string.IsNullOrEmpty(text)) return null;
        var boxed = LastBraced(text, "\\boxed") ?? LastBraced(text, "\\fbox");
        if (boxed is not null) return boxed.Trim();
        int close = text.LastIndexOf("</answer>", StringComparison.Ordinal);
        if (close >= 0)
        {
            int open = text.LastIndexOf("<answer>", close, StringComparison.Ordinal);
            if (open >= 0) return text[(open + "<answer>".Length)..close].Trim();
        }
        int hashes = text.LastIndexOf("####", StringComparison.Ordinal);
        if (hashes >= 0) return FirstLine(text[(hashes + 4)..]);
        int phrase = text.LastIndexOf("answer is", StringComparison.OrdinalIgnoreCase);
        if (phrase >= 0)
        {
            var rest = FirstLine(text[(phrase + "answer is".Length)..]).TrimStart(':', ' ').TrimEnd('.', ' ');
            return rest.Length == 0 ? null : rest;
        }
        var math = LastMath(text);
        var number = LastNumber().Match(text);
        while (number.Success && number.NextMatch() is { Success: true } next) number = next;
        if (number.Success && (math is null || number.Index >= math.Value.End)) return number.Value;
        return math?.Content;
    }

    /// <summary>A number as written in prose: sign, thousands, decimals (point or comma), exponent, a fraction a/b.</summary>
    [GeneratedRegex(@"(?:(?<![\w)}\]])-)?(?<![\w.])\d+(?:,\d{3})*(?:[.,]\d+)?(?:[eE][+-]?\d+)?(?:/\d+(?:\.\d+)?)?")]
    private static partial Regex LastNumber();

    /// <summary>
    /// The content of the math environment that closes last (<c>\[…\]</c>, <c>\(…\)</c>, <c>$$…$$</c> or <c>$…$</c>,
    /// unescaped dollars paired in order), with the index after its closing delimiter; null when there is none with content.
    /// </summary>
    private static (string Content, int End)? LastMath(string text)
    {
        (string Content, int End)? best = null;
        void Consider(int open, int openLength, int close, int closeLength)
        {
            if (open < 0 || close < open + openLength) return;
            var content = text[(open + openLength)..close].Trim();
            if (content.Length > 0 && (best is null || close + closeLength > best.Value.End)) best = (content, close + closeLength);
        }
        foreach (var (open, close) in new[] { ("\\[", "\\]"), ("\\(", "\\)") })
        {
            int c = text.LastIndexOf(close, StringComparison.Ordinal);
            if (c > 0) Consider(text.LastIndexOf(open, c - 1, StringComparison.Ordinal), open.Length, c, close.Length);
        }
        // Dollars: "$$" and "$" delimiters in order of appearance, each kind paired first with second, third with fourth...
        int pendingDouble = -1, pendingSingle = -1;
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] != '$' || (i > 0 && text[i - 1] == '\\')) continue;
            if (i + 1 < text.Length && text[i + 1] == '$')
            {
                if (pendingDouble < 0) pendingDouble = i;
                else { Consider(pendingDouble, 2, i, 2); pendingDouble = -1; }
                i++;
            }
            else if (pendingSingle < 0) pendingSingle = i;
            else { Consider(pendingSingle, 1, i, 1); pendingSingle = -1; }
        }
        return best;
    }

    /// <summary>Whether <paramref name="predicted"/> and <paramref name="reference"/> denote the same answer. Never throws.</summary>
    public bool Equivalent(string? predicted, string? reference)
    {
        if (predicted is null || reference is null) return false;
        try
        {
            if (predicted.Length > MaxRawChars || reference.Length > MaxRawChars)
                return string.Equals(predicted.Trim(), reference.Trim(), StringComparison.Ordinal);
            var a = Normalize(predicted);
            var b = Normalize(reference);
            if (a.Length == 0 || b.Length == 0) return false;
            if (a == b) return true;
            if (a.Length > MaxAnswerChars || b.Length > MaxAnswerChars) return false;
            var x = MathExpression.TryEvaluate(a);
            var y = MathExpression.TryEvaluate(b);
            if (x is null || y is null) return false;
            if (x.Value.Exact is { } p && y.Value.Exact is { } q)
            {
                if (p == q) return true;
                if (!x.Value.HasDecimal && !y.Value.HasDecimal) return false;
            }
            double u = x.Value.Approx, v = y.Value.Approx;
            if (double.IsInfinity(u) || double.IsInfinity(v)) return false;
            return System.Math.Abs(u - v) <= RelativeTolerance * System.Math.Max(System.Math.Abs(u), System.Math.Abs(v));
        }
#pragma warning disable CA1031
        catch (Exception)
#pragma warning restore CA1031
        {
            return false;
        }
    }

    /// <summary>Normalises an answer string (see the class remarks); null or blank gives "". Never throws.</summary>
    public static string Normalize(string? answer)
    {
        if (string.IsNullOrWhiteSpace(answer)) return "";
        var s = answer.Trim().TrimEnd('.').TrimEnd();
        foreach (var (from, to) in new[] { ("\u2212", "-"), ("\u00D7", "\\times "), ("\u00B7", "\\cdot "), ("\u00F7", "\\div ") })
            s = s.Replace(from, to, StringComparison.Ordinal);
        // "10,\!000": the negative space only pulls the group to its comma. "1\,000": a thin space groups digits.
        s = s.Replace("{,}", ",", StringComparison.Ordinal).Replace(",\\!", ",", StringComparison.Ordinal).Replace("\\,", ThinSpace, StringComparison.Ordinal);
        foreach (var cmd in new[] { "\\displaystyle", "\\left", "\\right", "\\!", "\\;", "\\:", "\\quad", "\\qquad", "\\$", "$", "^\\circ", "^{\\circ}", "°", "\\%", "%", "\\ ", "~", "\\[", "\\]", "\\(", "\\)", "\\euro", "\\pounds", "€", "£", "¥", "₹" })
            s = s.Replace(cmd, " ", StringComparison.Ordinal);
        s = StripTextCommands(s);
        s = DropWords(s);
        s = StripThousands(s);
        s = DecimalComma(s);
        s = RemoveWhitespace(s.Replace(ThinSpace, " ", StringComparison.Ordinal));
        int eq = s.LastIndexOf('=');
        if (eq > 0 && eq < s.Length - 1 && IsVariable(s[..eq])) s = s[(eq + 1)..];
        s = s.TrimEnd('.');
        return s;
    }

    private static bool IsVariable(string s) => s.Length is > 0 and <= 2 && s.All(char.IsAsciiLetter);

    /// <summary>Unwraps \text{…}-like groups that hold a number; drops the others (units).</summary>
    private static string StripTextCommands(string s)
    {
        foreach (var cmd in new[] { "\\text", "\\textbf", "\\mathrm", "\\mbox", "\\textrm", "\\mathbf", "\\textnormal", "\\textit" })
        {
            for (int guard = 0; guard < 64; guard++)
            {
                int at = s.IndexOf(cmd + "{", StringComparison.Ordinal);
                if (at < 0) break;
                int open = at + cmd.Length;
                int close = MatchBrace(s, open);
                if (close < 0) { s = s[..at] + s[(open + 1)..]; continue; }
                var inner = s[(open + 1)..close];
                bool numeric = inner.Trim().Length > 0 && inner.Trim().All(c => char.IsAsciiDigit(c) || c is '.' or ',' or '-' or '/');
                bool alone = string.IsNullOrWhiteSpace(s[..at]) && string.IsNullOrWhiteSpace(s[(close + 1)..]);
                int after = close + 1;
                if (!(numeric || alone) && UnitPower().Match(s, after) is { Success: true } power) after += power.Length;
                s = s[..at] + (numeric || alone ? inner : " ") + s[after..];
            }
        }
        return s;
    }

    /// <summary>A square or cube after a dropped unit (<c>\text{cm}^2</c>), so that it does not square the number.</summary>
    [GeneratedRegex(@"\G\s*\^\s*\{?\s*[23]\s*\}?")]
    private static partial Regex UnitPower();

    /// <summary>
    /// Drops whitespace-separated words of two letters or more, with a square or cube (units: "dollars", "cm^2"), unless
    /// nothing else is left.
    /// </summary>
    private static string DropWords(string s)
    {
        var parts = s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2) return s;
        var kept = parts.Where(p => !Word().IsMatch(p)).ToArray();
        return kept.Length == 0 ? s : string.Join(' ', kept);
    }

    [GeneratedRegex(@"^\p{L}{2,}(?:\^\{?[23]\}?)?$")]
    private static partial Regex Word();

    /// <summary>
    /// The whole answer one number with a comma that is not a thousands separator (those are gone by now): a decimal
    /// comma, "3,5" is 3.5 and "0,250" is 0.25. A list ("1, 2", "1,2,3") or a tuple ("(1,2)") is left alone.
    /// </summary>
    private static string DecimalComma(string s)
    {
        var t = s.Trim();
        return DecimalCommaNumber().IsMatch(t) ? t.Replace(',', '.') : s;
    }

    [GeneratedRegex(@"^[-+]?\d+,\d+$")]
    private static partial Regex DecimalCommaNumber();

    /// <summary>
    /// Stands for <c>\,</c> until the thousands are joined (<c>1\,000</c>), a space after that: a private-use character,
    /// not white space, so that dropping words does not split at it.
    /// </summary>
    private const char ThinSpaceChar = '\uE000';

    private const string ThinSpace = "\uE000";

    /// <summary>Removes commas and thin spaces that separate groups of three digits in a number ("1,234,567.5").</summary>
    private static string StripThousands(string s)
    {
        if (s.AsSpan().IndexOfAny(',', ThinSpaceChar) < 0) return s;
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] is ',' or ThinSpaceChar && i > 0 && char.IsAsciiDigit(s[i - 1]) && IsGroupOfThree(s, i + 1) && LeadingGroupOk(s, i)) continue;
            sb.Append(s[i]);
        }
        return sb.ToString();
    }

    private static bool IsGroupOfThree(string s, int start) =>
        start + 3 <= s.Length && char.IsAsciiDigit(s[start]) && char.IsAsciiDigit(s[start + 1]) && char.IsAsciiDigit(s[start + 2])
        && (start + 3 == s.Length || !char.IsAsciiDigit(s[start + 3]));

    /// <summary>
    /// The digits before the separator form a group of 1-3 (first group, not starting with 0) or exactly 3 after another
    /// separator, and are not decimals.
    /// </summary>
    private static bool LeadingGroupOk(string s, int comma)
    {
        int j = comma - 1;
        while (j >= 0 && char.IsAsciiDigit(s[j])) j--;
        int len = comma - 1 - j;
        if (len is < 1 or > 3 || (j >= 0 && s[j] == '.')) return false;
        return j >= 0 && s[j] is ',' or ThinSpaceChar ? len == 3 : s[j + 1] != '0';
    }

    /// <summary>
    /// Removes white space, except one space between two digits: "10 20" is two numbers, not 1020, and "3 and 4" (the word
    /// dropped) is not 34. Such an answer is never a number, so it can only equal the same spaced string.
    /// </summary>
    private static string RemoveWhitespace(string s)
    {
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (!char.IsWhiteSpace(s[i]))
            {
                sb.Append(s[i]);
                continue;
            }
            int next = i;
            while (next < s.Length && char.IsWhiteSpace(s[next])) next++;
            if (sb.Length > 0 && (char.IsAsciiDigit(sb[^1]) || sb[^1] == '.') && next < s.Length && StartsDigits(s, next)) sb.Append(' ');
            i = next - 1;
        }
        return sb.ToString();
    }

    /// <summary>A digit, or a decimal point before one, at <paramref name="i"/>.</summary>
    private static bool StartsDigits(string s, int i) =>
        char.IsAsciiDigit(s[i]) || (s[i] == '.' && i + 1 < s.Length && char.IsAsciiDigit(s[i + 1]));

    private static string FirstLine(string s)
    {
        int nl = s.IndexOf('\n', StringComparison.Ordinal);
        return (nl >= 0 ? s[..nl] : s).Trim();
    }

    /// <summary>Content of the last <c>{cmd}{…}</c> with balanced braces (or <c>{cmd} x</c>), or null.</summary>
    private static string? LastBraced(string text, string cmd)
    {
        int tries = 0;
        for (int at = text.LastIndexOf(cmd, StringComparison.Ordinal); at >= 0 && tries++ < 16; at = at == 0 ? -1 : text.LastIndexOf(cmd, at - 1, StringComparison.Ordinal))
        {
            int i = at + cmd.Length;
            while (i < text.Length && text[i] == ' ') i++;
            if (i < text.Length && text[i] == '{')
            {
                int close = MatchBrace(text, i);
                if (close >= 0) return text[(i + 1)..close];
            }
            else if (i > at + cmd.Length && i < text.Length)
            {
                int end = i;
                while (end < text.Length && !char.IsWhiteSpace(text[end]) && text[end] != '$') end++;
                return text[i..end];
            }
        }
        return null;
    }

    /// <summary>Index of the brace closing the one at <paramref name="open"/>, or -1 when unbalanced.</summary>
    private static int MatchBrace(string s, int open)
    {
        int depth = 0;
        for (int i = open; i < s.Length; i++)
        {
            if (s[i] == '{' && (i == 0 || s[i - 1] != '\\')) depth++;
            else if (s[i] == '}' && (i == 0 || s[i - 1] != '\\'))
            {
                depth--;
                if (depth == 0) return i;
            }
        }
        return -1;
    }
}
