using System.Globalization;
using System.Numerics;

namespace RoRecomp.Tasks.Answers;

/// <summary>The value of a normalised answer: exact when only rationals were involved, else a double approximation.</summary>
/// <param name="Exact">The exact value, or null when irrational (√, π) or too large.</param>
/// <param name="Approx">The value as a double.</param>
/// <param name="HasDecimal">A decimal literal was involved (compared with a tolerance).</param>
internal readonly record struct MathValue(Rational? Exact, double Approx, bool HasDecimal)
{
    public static MathValue Of(Rational r, bool dec) => new(r, r.ToDouble(), dec);

    public static MathValue Approximate(double v, bool dec) => new(null, v, dec);
}

/// <summary>
/// Evaluates a normalised LaTeX-ish arithmetic answer: numbers (integer, decimal, scientific <c>1.5e3</c>), + - * / ^,
/// parentheses and braces, <c>\frac</c> (and <c>\dfrac</c>, <c>\tfrac</c>, <c>\cfrac</c>; <c>\frac12</c> too), <c>\sqrt</c>,
/// <c>\pi</c>, <c>\cdot</c>, <c>\times</c>, <c>\div</c> and implicit multiplication (<c>2\sqrt{3}</c>). Bounded nesting
/// and literal sizes; returns null for anything else (no exceptions escape).
/// </summary>
internal sealed class MathExpression
{
    private const int MaxDepth = 48;
    private const int MaxLiteralDigits = MathAnswerVerifier.MaxAnswerChars;
    private const int MaxExponent = 4_000; // 10^4000 is 13,288 bits, within Rational.MaxBits
    private readonly string _s;
    private int _pos;

    private MathExpression(string s) => _s = s;

    public static MathValue? TryEvaluate(string s)
    {
        try
        {
            var p = new MathExpression(s);
            var v = p.Expr(0);
            return v is not null && p._pos == s.Length && !double.IsNaN(v.Value.Approx) ? v : null;
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException or DivideByZeroException)
        {
            return null;
        }
    }

    private bool Eat(string token)
    {
        if (string.CompareOrdinal(_s, _pos, token, 0, token.Length) != 0) return false;
        // A command must not be a prefix of a longer command (\pi vs \pix).
        if (token[0] == '\\' && char.IsAsciiLetter(token[^1]) && _pos + token.Length < _s.Length && char.IsAsciiLetter(_s[_pos + token.Length])) return false;
        _pos += token.Length;
        return true;
    }

    private MathValue? Expr(int depth)
    {
        if (depth > MaxDepth) return null;
        var v = Term(depth);
        while (v is not null && _pos < _s.Length)
        {
            if (Eat("+")) v = Combine(v.Value, Term(depth), '+');
            else if (Eat("-")) v = Combine(v.Value, Term(depth), '-');
            else break;
        }
        return v;
    }

    private MathValue? Term(int depth)
    {
        var v = Unary(depth);
        while (v is not null && _pos < _s.Length)
        {
            if (Eat("*") || Eat("\\cdot") || Eat("\\times")) v = Combine(v.Value, Unary(depth), '*');
            else if (Eat("/") || Eat("\\div")) v = Combine(v.Value, Unary(depth), '/');
            else if (StartsPrimary()) v = Combine(v.Value, Power(depth), '*');
            else break;
        }
        return v;
    }

    private MathValue? Unary(int depth)
    {
        if (depth > MaxDepth) return null;
        if (Eat("-")) return Negate(Unary(depth + 1));
        if (Eat("+")) return Unary(depth + 1);
        return Power(depth);
    }

    private bool StartsPrimary() =>
        _pos < _s.Length && (char.IsAsciiDigit(_s[_pos]) || _s[_pos] is '(' or '{' or '.'
            || string.CompareOrdinal(_s, _pos, "\\frac", 0, 5) == 0 || string.CompareOrdinal(_s, _pos, "\\dfrac", 0, 6) == 0
            || string.CompareOrdinal(_s, _pos, "\\tfrac", 0, 6) == 0 || string.CompareOrdinal(_s, _pos, "\\cfrac", 0, 6) == 0
            || string.CompareOrdinal(_s, _pos, "\\sqrt", 0, 5) == 0
            || string.CompareOrdinal(_s, _pos, "\\pi", 0, 3) == 0);

    private MathValue? Power(int depth)
    {
        var b = Primary(depth);
        if (b is null || !Eat("^")) return b;
        var e = _pos < _s.Length && char.IsAsciiDigit(_s[_pos]) ? Digit() : Eat("-") ? Negate(Primary(depth + 1)) : Primary(depth + 1);
        if (e is null) return null;
        return Pow(b.Value, e.Value);
    }

    private MathValue? Digit()
    {
        var d = _s[_pos++] - '0';
        return MathValue.Of(Rational.Of(d), false);
    }

    private MathValue? Primary(int depth)
    {
        if (depth > MaxDepth || _pos >= _s.Length) return null;
        char c = _s[_pos];
        if (c == '(' || c == '{' || c == '[')
        {
            char close = c == '(' ? ')' : c == '{' ? '}' : ']';
            _pos++;
            var v = Expr(depth + 1);
            return v is not null && Eat(close.ToString()) ? v : null;
        }
        if (char.IsAsciiDigit(c) || c == '.') return Number();
        if (Eat("\\frac") || Eat("\\dfrac") || Eat("\\tfrac") || Eat("\\cfrac"))
        {
            var n = Argument(depth + 1);
            var d = n is null ? null : Argument(depth + 1);
            return n is null || d is null ? null : Combine(n.Value, d, '/');
        }
        if (Eat("\\sqrt"))
        {
            var x = Argument(depth + 1);
            if (x is null || x.Value.Approx < 0) return null;
            var exact = x.Value.Exact?.ExactSqrt();
            return exact is not null ? MathValue.Of(exact.Value, x.Value.HasDecimal) : MathValue.Approximate(System.Math.Sqrt(x.Value.Approx), x.Value.HasDecimal);
        }
        if (Eat("\\pi")) return MathValue.Approximate(System.Math.PI, false);
        return null;
    }

    /// <summary>A macro argument: a braced group or a single character (<c>\frac12</c>).</summary>
    private MathValue? Argument(int depth)
    {
        if (_pos >= _s.Length) return null;
        if (_s[_pos] == '{') return Primary(depth);
        if (char.IsAsciiDigit(_s[_pos])) return Digit();
        return null;
    }

    private MathValue? Number()
    {
        int start = _pos;
        while (_pos < _s.Length && char.IsAsciiDigit(_s[_pos])) _pos++;
        int intEnd = _pos;
        bool dec = false;
        if (_pos < _s.Length && _s[_pos] == '.')
        {
            dec = true;
            _pos++;
            while (_pos < _s.Length && char.IsAsciiDigit(_s[_pos])) _pos++;
        }
        var intPart = _s[start..intEnd];
        var frac = dec ? _s[(intEnd + 1).._pos] : "";
        if (intPart.Length + frac.Length == 0 || intPart.Length + frac.Length > MaxLiteralDigits) return null;
        var exponent = Exponent();
        if (exponent is null) return null;
        var num = BigInteger.Parse(intPart + frac, NumberStyles.None, CultureInfo.InvariantCulture);
        int scale = exponent.Value - frac.Length;
        var r = scale >= 0 ? Rational.Create(num * BigInteger.Pow(10, scale), BigInteger.One) : Rational.Create(num, BigInteger.Pow(10, -scale));
        return r is null ? null : MathValue.Of(r.Value, dec);
    }

    /// <summary>
    /// Scientific notation after a literal (<c>1.5e3</c>, <c>2E-4</c>): the power of ten, 0 when there is none, null when
    /// it is beyond <see cref="MaxExponent"/>. An <c>e</c> not followed by digits is left alone.
    /// </summary>
    private int? Exponent()
    {
        if (_pos >= _s.Length || _s[_pos] is not ('e' or 'E')) return 0;
        int i = _pos + 1;
        bool negative = i < _s.Length && _s[i] == '-';
        if (i < _s.Length && _s[i] is '-' or '+') i++;
        int digits = i;
        while (i < _s.Length && char.IsAsciiDigit(_s[i])) i++;
        if (i == digits) return 0;
        if (i - digits > 5) return null;
        int e = int.Parse(_s.AsSpan(digits, i - digits), NumberStyles.None, CultureInfo.InvariantCulture);
        if (e > MaxExponent) return null;
        _pos = i;
        return negative ? -e : e;
    }

    private static MathValue? Negate(MathValue? v) =>
        v is null ? null : new MathValue(v.Value.Exact?.Negate(), -v.Value.Approx, v.Value.HasDecimal);

    private static MathValue? Combine(MathValue a, MathValue? bOpt, char op)
    {
        if (bOpt is null) return null;
        var b = bOpt.Value;
        bool dec = a.HasDecimal || b.HasDecimal;
        if (a.Exact is { } x && b.Exact is { } y)
        {
            if (op == '/' && y.Numerator.IsZero) return null;
            var r = op switch
            {
                '+' => Rational.Add(x, y),
                '-' => Rational.Add(x, y.Negate()),
                '*' => Rational.Multiply(x, y),
                _ => Rational.Divide(x, y),
            };
            if (r is not null) return MathValue.Of(r.Value, dec);
        }
        double v = op switch
        {
            '+' => a.Approx + b.Approx,
            '-' => a.Approx - b.Approx,
            '*' => a.Approx * b.Approx,
            _ => b.Approx == 0 ? double.NaN : a.Approx / b.Approx,
        };
        return double.IsNaN(v) ? null : MathValue.Approximate(v, dec);
    }

    private static MathValue? Pow(MathValue b, MathValue e)
    {
        bool dec = b.HasDecimal || e.HasDecimal;
        if (b.Exact is { } x && e.Exact is { } y && y.Denominator.IsOne && BigInteger.Abs(y.Numerator) <= 1024)
        {
            int n = (int)y.Numerator;
            long bits = System.Math.Max(x.Numerator.GetBitLength(), x.Denominator.GetBitLength()) * (long)System.Math.Abs(n);
            if (bits <= Rational.MaxBits)
            {
                if (n < 0 && x.Numerator.IsZero) return null;
                var r = n >= 0
                    ? Rational.Create(BigInteger.Pow(x.Numerator, n), BigInteger.Pow(x.Denominator, n))
                    : Rational.Create(BigInteger.Pow(x.Denominator, -n), BigInteger.Pow(x.Numerator, -n));
                if (r is not null) return MathValue.Of(r.Value, dec);
            }
        }
        var v = System.Math.Pow(b.Approx, e.Approx);
        return double.IsNaN(v) ? null : MathValue.Approximate(v, dec);
    }
}
