using RoRecomp.Settings;
using RoRecomp.Core.Rewards;

namespace RoRecomp.Settings.Tests;

public sealed class RewardShapingTests
{
    [Fact]
    public void The_defaults_change_nothing()
    {
        var shaping = SettingsMapping.RewardShaping(SettingsLoader.Load(null, []));
        Assert.False(shaping.Enabled);
        Assert.Equal(1.0, shaping.Shape(1, true, 96));
        Assert.Equal(0.0, shaping.Shape(0, false, 96));
    }

    [Theory]
    [InlineData(10, 1.0)]               // within the target: no penalty
    [InlineData(20, 1.0)]               // exactly at the target
    [InlineData(52, 1 - (0.5 * 32 / 64.0))]
    [InlineData(84, 0.5)]               // a full max-new-tokens over the target: the whole coefficient
    [InlineData(500, 0.5)]              // beyond: capped
    public void Correct_responses_lose_the_coefficient_times_the_excess_over_max_new_tokens(int length, double expected)
    {
        var shaping = SettingsMapping.RewardShaping(SettingsLoader.Load(null, ["reward.length-penalty=0.5", "reward.target-length=20", "sampling.max-new-tokens=64"]));
        Assert.Equal(expected, shaping.Shape(1, true, length), 12);
        Assert.Equal(0.0, shaping.Shape(0, false, length));   // incorrect: unshaped
    }

    [Fact]
    public void A_shaped_reward_never_drops_below_an_incorrect_ones()
    {
        var shaping = new RewardShaping(1.0, 0, 10);
        Assert.Equal(0.0, shaping.Shape(1, true, 1000));
        Assert.True(new RewardShaping(0.99, 0, 10).Shape(1, true, 1000) > 0);
    }

    [Theory]
    [InlineData("reward.length-penalty=1.5", "length-penalty")]
    [InlineData("reward.length-penalty=-0.1", "length-penalty")]
    [InlineData("reward.target-length=-1", "target-length")]
    [InlineData("reward.length-penalti=0.1", "length-penalty")]
    public void Out_of_range_or_misspelt_keys_are_refused(string set, string named)
    {
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, [set]));
        Assert.Contains(named, e.Message);
    }
}
