using System.Numerics;

namespace RoRecomp.Tasks.Answers;

/// <summary>An exact rational number (normalised: positive denominator, lowest terms) for answer equivalence.</summary>
public readonly record struct Rational
{
    /// <summary>Largest size, in bits, of a numerator or denominator; larger results are not kept exact.</summary>
    public const int MaxBits = 16_384;

    private Rational(BigInteger num, BigInteger den)
    {
        Numerator = num;
        Denominator = den;
    }

    /// <summary>The numerator (sign carrier).</summary>
    public BigInteger Numerator { get; }

    /// <summary>The denominator (positive).</summary>
    public BigInteger Denominator { get; }

    /// <summary>An integer.</summary>
    public static Rational Of(BigInteger n) => new(n, BigInteger.One);

    /// <summary>num/den in lowest terms; null when <paramref name="den"/> is zero or the parts are too large.</summary>
    public static Rational? Create(BigInteger num, BigInteger den)
    {
        if (den.IsZero) return null;
        if (den.Sign < 0) { num = -num; den = -den; }
        var g = BigInteger.GreatestCommonDivisor(num, den);
        if (!g.IsOne && !g.IsZero) { num /= g; den /= g; }
        if (num.GetBitLength() > MaxBits || den.GetBitLength() > MaxBits) return null;
        return new Rational(num, den);
    }

    /// <summary>Sum (null when too large).</summary>
    public static Rational? Add(Rational a, Rational b) => Create(a.Numerator * b.Denominator + b.Numerator * a.Denominator, a.Denominator * b.Denominator);

    /// <summary>Product (null when too large).</summary>
    public static Rational? Multiply(Rational a, Rational b) => Create(a.Numerator * b.Numerator, a.Denominator * b.Denominator);

    /// <summary>Quotient (null on division by zero or when too large).</summary>
    public static Rational? Divide(Rational a, Rational b) => Create(a.Numerator * b.Denominator, a.Denominator * b.Numerator);

    /// <summary>Negation.</summary>
    public Rational Negate() => new(-Numerator, Denominator);

    /// <summary>Nearest double (may be infinite for huge values).</summary>
    public double ToDouble()
    {
        // Scale both parts down together so huge values do not turn into NaN (inf / inf).
        var n = Numerator;
        var d = Denominator;
        long shift = System.Math.Max(n.GetBitLength(), d.GetBitLength()) - 1000;
        if (shift > 0)
        {
            var ns = BigInteger.Abs(n) >> (int)shift;
            var ds = d >> (int)shift;
            if (ds.IsZero) return n.Sign * double.PositiveInfinity;
            return n.Sign * (double)ns / (double)ds;
        }
        return (double)n / (double)d;
    }

    /// <summary>The exact square root when both parts are perfect squares, else null.</summary>
    public Rational? ExactSqrt()
    {
        if (Numerator.Sign < 0) return null;
        var n = ISqrt(Numerator);
        var d = ISqrt(Denominator);
        return n * n == Numerator && d * d == Denominator ? Create(n, d) : null;
    }

    private static BigInteger ISqrt(BigInteger x)
    {
        if (x < 2) return x;
        // A double holds x below 2^1023 only; above, (double)x is infinite and converting its root back throws.
        var r = x.GetBitLength() <= 1000 ? (BigInteger)System.Math.Sqrt((double)x) : BigInteger.One << (int)(x.GetBitLength() / 2);
        if (r.IsZero) r = BigInteger.One;
        while (true)
        {
            var next = (r + x / r) >> 1;
            if (BigInteger.Abs(next - r) <= 1)
            {
                while (next * next > x) next--;
                while ((next + 1) * (next + 1) <= x) next++;
                return next;
            }
            r = next;
        }
    }

    /// <inheritdoc />
    public override string ToString() => Denominator.IsOne ? Numerator.ToString() : $"{Numerator}/{Denominator}";
}
