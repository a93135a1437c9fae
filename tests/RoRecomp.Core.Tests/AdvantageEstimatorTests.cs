using RoRecomp.Core.Advantages;

namespace RoRecomp.Core.Tests;

public class AdvantageEstimatorTests
{
    [Fact]
    public void Grpo_normalises_by_unbiased_group_std()
    {
        var a = AdvantageEstimators.Get("grpo")([1, 0, 0, 1], 0);
        var std = Math.Sqrt(1.0 / 3.0); // unbiased std of {1,0,0,1}
        Assert.Equal(new[] { 0.5 / std, -0.5 / std, -0.5 / std, 0.5 / std }, a, (x, y) => Math.Abs(x - y) < 1e-12);
    }

    [Fact]
    public void Dr_grpo_only_centres()
    {
        var a = AdvantageEstimators.Get("dr-grpo")([1, 0, 0, 0], 1e-6);
        Assert.Equal(new[] { 0.75, -0.25, -0.25, -0.25 }, a);
    }

    [Theory]
    [InlineData("grpo")]
    [InlineData("dr-grpo")]
    public void Degenerate_groups_have_defined_finite_advantages(string name)
    {
        var est = AdvantageEstimators.Get(name);
        Assert.Empty(est([], 1e-6));
        Assert.Equal(new[] { 1.0 }, est([1.0], 1e-6), (x, y) => Math.Abs(x - y) < 1e-5); // group of one: mean 0, std 1
        Assert.Equal(new[] { 0.0 }, est([0.0], 1e-6));
        Assert.All(est([1, 1, 1, 1], 1e-6), x => Assert.Equal(0.0, x));
        Assert.All(est([0, 0, 0], 1e-6), x => Assert.Equal(0.0, x));
        Assert.All(est([1, 0, 1, 1, 0, 1, 0, 0], 1e-6), x => Assert.True(double.IsFinite(x)));
    }

    [Fact]
    public void Non_finite_reward_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => AdvantageEstimators.GroupNormalized([1, double.NaN], 1e-6));
    }

    [Fact]
    public void Unknown_estimator_lists_the_known_ones()
    {
        var ex = Assert.Throws<ArgumentException>(() => AdvantageEstimators.Get("ppo"));
        Assert.Contains("'ppo'", ex.Message);
        Assert.Contains("dr-grpo, grpo", ex.Message);
    }
}
