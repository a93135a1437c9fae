using RoRecomp.Settings;
using RoRecomp.Core.Recomposition;
using RoRecomp.Core.Replay;

namespace RoRecomp.Settings.Tests;

public sealed class SettingsMappingTests
{
    [Fact]
    public void Defaults_map_to_core_defaults()
    {
        var s = SettingsLoader.Load(null, []);
        Assert.Equal(RecompositionOptions.Default, SettingsMapping.Recomposition(s));
        var rb = SettingsMapping.ReplayBuffer(s);
        Assert.Equal(DrawOrder.OldestFirst, rb.DrawOrder);
        Assert.Equal(s.Buffer.Capacity, rb.Capacity);
    }

    [Fact]
    public void Overrides_map_to_the_matching_enums()
    {
        var s = SettingsLoader.Load(null, ["recomposition.scope=group", "recomposition.length-key=tool-calls-then-tokens",
            "recomposition.advantage-scope=original", "algorithm.advantage-estimator=dr-grpo", "compensation.draw-order=uniform",
            "run.seed=9", "buffer.max-staleness=0"]);
        var r = SettingsMapping.Recomposition(s);
        Assert.Equal((RankScope.Group, LengthKey.ToolCallsThenTokens, AdvantageScope.Original, "dr-grpo"), (r.Scope, r.LengthKey, r.AdvantageScope, r.Estimator));
        var rb = SettingsMapping.ReplayBuffer(s);
        Assert.Equal((DrawOrder.Uniform, 9, 0L), (rb.DrawOrder, rb.Seed, rb.MaxStaleness));
    }
}
