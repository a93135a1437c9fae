using RoRecomp.Model.Runtime;
using RoRecomp.Settings;
using RoRecomp.Training.Steps;

namespace RoRecomp.Training.Tests;

public sealed class WarmStartFitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-fit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Max_new_tokens_beyond_the_tiny_preset_positions_is_a_settings_error_before_any_work()
    {
        var settings = SettingsLoader.Load(null, ["run.task=thinking", "sampling.max-new-tokens=400"]);
        var e = Assert.Throws<SettingsException>(() => WarmStart.CheckFits(settings, _dir));
        Assert.StartsWith("rorecomp.sampling.max-new-tokens = 400: a thinking prompt takes up to ", e.Message);
        Assert.Contains("the tiny preset has 256 positions (max_position_embeddings), so at most ", e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public void Default_max_new_tokens_fits_and_a_configured_checkpoint_is_measured()
    {
        WarmStart.CheckFits(SettingsLoader.Load(null, ["run.task=thinking"]), _dir);
        TorchRuntime.EnsureLoaded();
        var warm = WarmStart.SaveRandom(Path.Combine(_dir, "warm"), "thinking", new Model.Transformer.TransformerConfig(64, 32, 64, 2, 2, 1, 96), seed: 1);
        var e = Assert.Throws<SettingsException>(() =>
            WarmStart.CheckFits(SettingsLoader.Load(null, ["run.task=thinking", $"model.checkpoint={warm}", "sampling.max-new-tokens=96"]), _dir));
        Assert.Contains($"the warm start {warm} has 96 positions", e.Message);
    }

    [Fact]
    public void A_configured_checkpoint_that_does_not_load_is_a_settings_error()
    {
        var e = Assert.Throws<SettingsException>(() =>
            WarmStart.CheckFits(SettingsLoader.Load(null, ["run.task=thinking", $"model.checkpoint={_dir}/nothing"]), _dir));
        Assert.Contains("no loadable checkpoint there", e.Message);
    }
}
