using System.Numerics;
using RoRecomp.Tasks.Answers;

namespace RoRecomp.Tasks.Tests;

public sealed class RationalTests
{
    [Theory]
    [InlineData(200)] // 1e400: (double) of it is infinite
    [InlineData(155)] // about 1e310: just past double.MaxValue (1.8e308)
    [InlineData(2000)]
    public void ExactSqrt_of_perfect_squares_beyond_the_double_range(int exponent)
    {
        var root = BigInteger.Pow(10, exponent) + 7;
        var square = Rational.Create(root * root, 9)!.Value;
        Assert.Equal(Rational.Create(root, 3), square.ExactSqrt());
        Assert.Null(Rational.Create(root * root + 1, 9)!.Value.ExactSqrt());
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(4, 2)]
    [InlineData(144, 12)]
    public void ExactSqrt_of_small_squares(int square, int root) =>
        Assert.Equal(Rational.Of(root), Rational.Of(square).ExactSqrt());

    [Fact]
    public void ExactSqrt_of_a_negative_or_a_non_square_is_null()
    {
        Assert.Null(Rational.Of(-4).ExactSqrt());
        Assert.Null(Rational.Of(2).ExactSqrt());
        Assert.Null(Rational.Create(1, 2)!.Value.ExactSqrt());
    }
}
