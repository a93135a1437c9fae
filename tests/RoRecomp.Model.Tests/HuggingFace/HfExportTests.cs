using System.Text.Json;
using System.Text.Json.Nodes;
using RoRecomp.Model.HuggingFace;
using RoRecomp.Model.Tests.Transformer;
using RoRecomp.Model.Transformer;
using static TorchSharp.torch;

namespace RoRecomp.Model.Tests.HuggingFace;

public sealed class HfExportTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"rorecomp-hf-export-{Guid.NewGuid():N}");

    public HfExportTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void Config_json_reads_back_as_the_same_config(bool bias, bool tie)
    {
        var c = new TransformerConfig(151_936, 896, 4864, 24, 14, 2, 32_768, RopeTheta: 1e6, RmsNormEps: 1e-5, QkvBias: bias, TieEmbeddings: tie);
        File.WriteAllText(Path.Combine(_dir, "config.json"), HfCheckpoint.ConfigJson(c, "bfloat16").ToJsonString());
        Assert.Equal(c, HfCheckpoint.ReadConfig(_dir));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "config.json")));
        Assert.Equal(bias ? "qwen2" : "llama", doc.RootElement.GetProperty("model_type").GetString());
        Assert.Equal(bias ? "Qwen2ForCausalLM" : "LlamaForCausalLM", doc.RootElement.GetProperty("architectures")[0].GetString());
        Assert.Equal("bfloat16", doc.RootElement.GetProperty("torch_dtype").GetString());
    }

    [Theory]
    [InlineData(false, HfExport.DefaultMaxShardBytes)]
    [InlineData(true, HfExport.DefaultMaxShardBytes)]
    [InlineData(false, 6_000)]   // shards of a few tensors each
    public void An_fp32_export_reloads_with_identical_logits(bool tie, long maxShardBytes)
    {
        using var scope = NewDisposeScope();
        var source = TinyModels.Make(seed: 21, tie: tie);
        var result = HfExport.Write(_dir, source.Config, source.state_dict(), new HfExportOptions(MaxShardBytes: maxShardBytes,
            ExtraConfig: new Dictionary<string, JsonNode?> { ["eos_token_id"] = 2 }));
        var sharded = maxShardBytes < HfExport.DefaultMaxShardBytes;
        Assert.Equal(sharded, result.Shards > 2);
        Assert.Equal(sharded, File.Exists(Path.Combine(_dir, HfExport.IndexFile)));
        Assert.Equal(!sharded, File.Exists(Path.Combine(_dir, HfExport.WeightsFile)));
        Assert.Equal(source.state_dict().Values.Sum(t => t.NumberOfElements * 4), result.WeightBytes);
        Assert.Equal(2, JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "generation_config.json")))!["eos_token_id"]!.GetValue<int>());
        Assert.Equal(tie, File.ReadAllText(Path.Combine(_dir, "config.json")).Contains("\"tie_word_embeddings\": true", StringComparison.Ordinal));

        var (loaded, report) = HfModelLoader.Load(_dir);
        using (loaded)
        {
            Assert.True(report.IsExact);
            Assert.Equal(source.Config, loaded.Config);
            var (expected, actual) = Logits(source, loaded);
            Assert.Equal(0f, (expected - actual).abs().max().item<float>());
        }
    }

    [Fact]
    public void A_bf16_export_is_half_the_size_and_reloads_within_bf16_tolerance()
    {
        using var scope = NewDisposeScope();
        var source = TinyModels.Make(seed: 22, tie: false);
        var fp32 = source.state_dict().Values.Sum(t => t.NumberOfElements * 4);
        var result = HfExport.Write(_dir, source.Config, source.state_dict(), new HfExportOptions(DType: ScalarType.BFloat16));
        Assert.Equal(fp32 / 2, result.WeightBytes);
        Assert.Contains("\"torch_dtype\": \"bfloat16\"", File.ReadAllText(Path.Combine(_dir, "config.json")), StringComparison.Ordinal);
        var (loaded, _) = HfModelLoader.Load(_dir);
        using (loaded)
        {
            var (expected, actual) = Logits(source, loaded);
            var scale = expected.abs().max().item<float>();
            var diff = (expected - actual).abs().max().item<float>();
            Assert.True(diff > 0 && diff < 0.05 * scale, $"bf16 logits differ by {diff} (scale {scale})");
        }
    }

    [Fact]
    public void A_non_empty_directory_or_another_dtype_is_refused()
    {
        using var scope = NewDisposeScope();
        var source = TinyModels.Make(seed: 23);
        File.WriteAllText(Path.Combine(_dir, "keep.txt"), "x");
        Assert.Contains("must exist and be empty", Assert.Throws<ArgumentException>(() =>
            HfExport.Write(_dir, source.Config, source.state_dict(), new HfExportOptions())).Message);
        Assert.Contains("fp32 or bf16", Assert.Throws<ArgumentException>(() =>
            HfExport.Write(_dir, source.Config, source.state_dict(), new HfExportOptions(DType: ScalarType.Float16))).Message);
    }

    /// <summary>Logits of both models on a batch of three rows (one left-padded), in eval mode.</summary>
    private static (Tensor Expected, Tensor Actual) Logits(PolicyTransformer source, PolicyTransformer loaded)
    {
        var tokens = tensor(new long[] { 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 13, 14, 15 }, [3, 5]);
        var mask = tokens.ne(0L);
        if (!mask.any().item<bool>()) throw new InvalidOperationException("test inputs");
        var positions = mask.to_type(ScalarType.Int64).cumsum(1).sub(1L).clamp_min(0L);
        using var ng = no_grad();
        source.eval();
        loaded.eval();
        return (source.Forward(tokens, positions, mask), loaded.Forward(tokens, positions, mask));
    }
}
