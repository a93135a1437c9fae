using System.Globalization;

namespace RoRecomp.Tasks.Tools;

/// <summary>
/// A tiny, bounded integer calculator for the tool environment (no code execution): decimal integers, + - * /, unary
/// minus and parentheses, spaces ignored. Division must be exact. Bounds: expression length, nesting depth, operand
/// digits and result magnitude; anything outside gives an error code instead of a value. Never throws.
/// </summary>
public static class Calculator
{
    /// <summary>Deepest parenthesis / unary-minus nesting accepted.</summary>
    public const int MaxDepth = 8;

    /// <summary>Evaluates <paramref name="expression"/>; on failure returns null and an error code
    /// ("syntax", "div0", "inexact", "too-large").</summary>
    public static long? Evaluate(string expression, long maxMagnitude, out string? error)
    {
        error = null;
        try
        {
            var p = new Parser(expression.Replace(" ", "", StringComparison.Ordinal), maxMagnitude);
            var v = p.Expr(0);
            if (p.Pos != p.Text.Length) throw new CalcError("syntax");
            return v;
        }
        catch (CalcError e)
        {
            error = e.Message;
            return null;
        }
        catch (OverflowException)
        {
            error = "too-large";
            return null;
        }
    }

    private sealed class CalcError(string code) : Exception(code);

    private sealed class Parser(string text, long max)
    {
        public string Text { get; } = text;

        public int Pos { get; private set; }

        public long Expr(int depth)
        {
            long v = Term(depth);
            while (Pos < Text.Length && Text[Pos] is '+' or '-')
            {
                char op = Text[Pos++];
                long r = Term(depth);
                v = Check(op == '+' ? checked(v + r) : checked(v - r));
            }
            return v;
        }

        private long Term(int depth)
        {
            long v = Factor(depth);
            while (Pos < Text.Length && Text[Pos] is '*' or '/')
            {
                char op = Text[Pos++];
                long r = Factor(depth);
                if (op == '*') v = Check(checked(v * r));
                else
                {
                    if (r == 0) throw new CalcError("div0");
                    if (v % r != 0) throw new CalcError("inexact");
                    v = Check(v / r);
                }
            }
            return v;
        }

        private long Factor(int depth)
        {
            if (depth > MaxDepth) throw new CalcError("syntax");
            if (Pos >= Text.Length) throw new CalcError("syntax");
            if (Text[Pos] == '-')
            {
                Pos++;
                return -Factor(depth + 1);
            }
            if (Text[Pos] == '(')
            {
                Pos++;
                long v = Expr(depth + 1);
                if (Pos >= Text.Length || Text[Pos] != ')') throw new CalcError("syntax");
                Pos++;
                return v;
            }
            int start = Pos;
            while (Pos < Text.Length && char.IsAsciiDigit(Text[Pos])) Pos++;
            if (Pos == start) throw new CalcError("syntax");
            if (Pos - start > 18) throw new CalcError("too-large");
            return Check(long.Parse(Text.AsSpan(start, Pos - start), NumberStyles.None, CultureInfo.InvariantCulture));
        }

        private long Check(long v) => v > max || v < -max ? throw new CalcError("too-large") : v;
    }
}
