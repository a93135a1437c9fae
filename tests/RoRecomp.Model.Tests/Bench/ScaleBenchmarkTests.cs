using System.Text.Json;
using RoRecomp.Model.Bench;
using RoRecomp.Model.Transformer;

namespace RoRecomp.Model.Tests.Bench;

public class ScaleBenchmarkTests
{
    [Fact]
    public void Presets_have_the_public_parameter_counts()
    {
        Assert.Equal(494_032_768, TransformerConfig.Preset("qwen2.5-0.5b").ParameterCount());
        Assert.Equal(1_543_714_304, TransformerConfig.Preset("qwen2.5-1.5b").ParameterCount());
        Assert.Throws<ArgumentException>(() => TransformerConfig.Preset("qwen2.5-70b"));
    }

    [Theory]
    [InlineData("VmHWM:\t 2117996 kB", 2117996L * 1024)]
    [InlineData("VmHWM:\t12345678 kB", 12345678L * 1024)]
    [InlineData("MemAvailable:   20281596 kB", 20281596L * 1024)]
    public void Proc_lines_parse_with_and_without_padding(string line, long bytes) => Assert.Equal(bytes, ProcessMemory.ParseKb(line));

    [Fact]
    public void The_benchmark_runs_end_to_end_on_a_tiny_config_and_every_figure_is_finite_and_positive()
    {
        var options = new ScaleBenchOptions(
            Preset: "tiny-test", Config: new TransformerConfig(64, 32, 48, 2, 4, 2, 64),
            PromptTokens: 4, SingleRowNewTokens: 16, BatchRows: 4, BatchNewTokens: 16, TrainRows: 2, TrainTokens: 16,
            Repeats: 1, BandwidthMegabytes: 16, Threads: 1);
        var lines = new List<string>();
        var r = ScaleBenchmark.Run(options, lines.Add);

        Assert.True(lines.Count >= 5, string.Join("\n", lines));
        using var json = JsonDocument.Parse(r.ToJson());
        var root = json.RootElement;
        foreach (var key in new[] { "train_flops_fraction_of_peak", "learner_peak_rss_gb", "checkpoint_write_s", "checkpoint_read_s", "checkpoint_bytes", "publish_to_fetch_s", "sampler_peak_rss_gb", "learner_memory_budget_gb" })
            AssertPositive(root.GetProperty(key), key);
        foreach (var key in new[] { "sampler_tokens_per_s", "decode_roofline_fraction" })
        {
            AssertPositive(root.GetProperty(key).GetProperty("batch_1"), key);
            AssertPositive(root.GetProperty(key).GetProperty("batch_4"), key);
        }
        Walk(root, "");
    }

    private static void Walk(JsonElement e, string path)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject()) Walk(p.Value, $"{path}.{p.Name}");
                break;
            case JsonValueKind.Array:
                foreach (var x in e.EnumerateArray()) Walk(x, path);
                break;
            case JsonValueKind.Number:
                AssertPositive(e, path);
                break;
            case JsonValueKind.Null:
                Assert.Fail($"{path} was not measured");
                break;
        }
    }

    private static void AssertPositive(JsonElement e, string name)
    {
        Assert.Equal(JsonValueKind.Number, e.ValueKind);
        var v = e.GetDouble();
        Assert.True(double.IsFinite(v) && v > 0, $"{name} = {v}");
    }
}
