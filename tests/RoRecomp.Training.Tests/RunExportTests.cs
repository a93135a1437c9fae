using System.Text.Json;
using System.Text.Json.Nodes;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.HuggingFace;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;
using RoRecomp.Settings;
using RoRecomp.Training.Runs;
using static TorchSharp.torch;

namespace RoRecomp.Training.Tests;

/// <summary><c>rorecomp export</c> on run directories laid out as <c>train</c> leaves them (run.conf, checkpoints/step-N).</summary>
public sealed class RunExportTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"rorecomp-export-test-{Guid.NewGuid():N}");

    public RunExportTests()
    {
        TorchRuntime.EnsureLoaded();
        Directory.CreateDirectory(_dir);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A small qwen2-shaped policy (QKV bias, GQA) with weights large enough that logits differ visibly.</summary>
    private static PolicyTransformer Policy(int seed, bool tie, int vocab = 40)
    {
        TorchRuntime.ManualSeed(seed);
        var model = new PolicyTransformer(new TransformerConfig(vocab, 32, 48, 2, 4, 2, 64, RopeTheta: 1e6, QkvBias: true, TieEmbeddings: tie));
        using (no_grad())
        {
            foreach (var p in model.parameters()) if (p.dim() == 2) p.mul_(10);
        }
        return model;
    }

    /// <summary>A run directory with run.conf and checkpoints at the given steps (each a different policy); returns the last policy.</summary>
    private PolicyTransformer Run(string run, string runConf, bool tie, params long[] steps)
    {
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, RunFiles.RunConfigFile), runConf);
        var store = new CheckpointStore(RunContext.CheckpointDirectoryOf(run));
        PolicyTransformer? last = null;
        foreach (var step in steps)
        {
            last?.Dispose();
            last = Policy((int)step, tie);
            using var scope = NewDisposeScope();
            store.Save(step, step, last.state_dict(), new Dictionary<string, Tensor> { ["step"] = tensor(new[] { step }) },
                JsonSerializer.Serialize(last.Config));
        }
        return last!;
    }

    /// <summary>A Hugging Face source directory as a run with model.source = hf starts from (tokenizer files are opaque here).</summary>
    private string HfSource()
    {
        var source = Path.Combine(_dir, "qwen-source");
        Directory.CreateDirectory(source);
        File.WriteAllText(Path.Combine(source, "config.json"), """{"model_type":"qwen2","bos_token_id":5,"eos_token_id":7}""");
        File.WriteAllText(Path.Combine(source, "generation_config.json"), """{"eos_token_id":[7,8],"temperature":0.7}""");
        File.WriteAllText(Path.Combine(source, "tokenizer.json"), """{"model":{"type":"BPE"}}""");
        File.WriteAllText(Path.Combine(source, "tokenizer_config.json"), """{"chat_template":"{{ messages }}"}""");
        File.WriteAllText(Path.Combine(source, "merges.txt"), "#version: 0.2\n");
        return source;
    }

    /// <summary>The exported directory's logits equal the policy's within <paramref name="relative"/> x their largest magnitude (0 = bitwise).</summary>
    private static void AssertSameLogits(PolicyTransformer source, string exported, float relative)
    {
        var (loaded, report) = HfModelLoader.Load(exported);
        using (loaded)
        using (var scope = NewDisposeScope())
        {
            Assert.True(report.IsExact);
            var tokens = tensor(new long[] { 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 13, 14, 15 }, [3, 5]);
            var mask = tokens.ne(0L);
            var positions = mask.to_type(ScalarType.Int64).cumsum(1).sub(1L).clamp_min(0L);
            using var ng = no_grad();
            source.eval();
            loaded.eval();
            var expected = source.Forward(tokens, positions, mask);
            var diff = (expected - loaded.Forward(tokens, positions, mask)).abs().max().item<float>();
            var scale = expected.abs().max().item<float>();
            Assert.True(diff <= relative * scale, $"logits differ by {diff} (largest {scale})");
        }
    }

    [Fact]
    public void An_hf_run_exports_its_latest_checkpoint_with_the_source_tokenizer_and_identical_logits()
    {
        var source = HfSource();
        var run = Path.Combine(_dir, "run");
        using var policy = Run(run, $"rorecomp.model.source = hf\nrorecomp.model.path = {JsonSerializer.Serialize(source)}\n", tie: true, 2, 4);
        var output = new StringWriter();
        var result = RunExport.Run(new ExportOptions(Path.Combine(_dir, "out"), RunDir: run), output, interactive: false);

        Assert.Equal(4, result.Step);
        var out_ = result.OutDir;
        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json", "merges.txt", "generation_config.json" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(source, f)), File.ReadAllBytes(Path.Combine(out_, f)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(out_, "config.json")))!;
        Assert.Equal("qwen2", config["model_type"]!.GetValue<string>());
        Assert.Equal(7, config["eos_token_id"]!.GetValue<int>());
        Assert.Equal("float32", config["torch_dtype"]!.GetValue<string>());
        Assert.True(config["tie_word_embeddings"]!.GetValue<bool>());
        Assert.Contains("tokenizer files copied", result.Tokenizer);
        Assert.Contains("export done", output.ToString());
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(_dir), e => Path.GetFileName(e).StartsWith(".tmp-", StringComparison.Ordinal));
        AssertSameLogits(policy, out_, relative: 0f);
    }

    [Fact]
    public void A_given_checkpoint_exports_sharded_and_in_bf16()
    {
        var run = Path.Combine(_dir, "run");
        using var first = Run(run, "", tie: false, 3);
        var checkpoint = Path.Combine(RunContext.CheckpointDirectoryOf(run), "step-000003");

        var sharded = RunExport.Run(new ExportOptions(Path.Combine(_dir, "sharded"), Checkpoint: checkpoint, MaxShardGb: 10e-6), TextWriter.Null, false);
        Assert.True(sharded.Shards > 2);
        Assert.True(File.Exists(Path.Combine(sharded.OutDir, HfExport.IndexFile)));
        AssertSameLogits(first, sharded.OutDir, relative: 0f);

        var bf16 = RunExport.Run(new ExportOptions(Path.Combine(_dir, "bf16"), Checkpoint: checkpoint, DType: "bf16"), TextWriter.Null, false);
        Assert.Equal(sharded.WeightBytes / 2, bf16.WeightBytes);
        AssertSameLogits(first, bf16.OutDir, relative: 0.05f);   // bf16 keeps 8 bits of mantissa
    }

    [Fact]
    public void A_tiny_run_exports_weights_and_says_its_tokenizer_is_the_character_vocabulary()
    {
        var run = Path.Combine(_dir, "run");
        using var policy = Run(run, "rorecomp.run.task = thinking\n", tie: true, 1);
        var result = RunExport.Run(new ExportOptions(Path.Combine(_dir, "out"), RunDir: run), TextWriter.Null, false);
        Assert.Contains("character vocabulary", result.Tokenizer);
        Assert.False(File.Exists(Path.Combine(result.OutDir, "tokenizer.json")));
        Assert.True(JsonNode.Parse(File.ReadAllText(Path.Combine(result.OutDir, "config.json")))!["eos_token_id"] is not null);
        AssertSameLogits(policy, result.OutDir, relative: 0f);
    }

    [Fact]
    public void Missing_checkpoints_a_non_empty_output_and_an_unknown_format_are_refused_clearly()
    {
        var empty = Path.Combine(_dir, "empty-run");
        Directory.CreateDirectory(empty);
        File.WriteAllText(Path.Combine(empty, RunFiles.RunConfigFile), "");
        var ex = Assert.Throws<CheckpointException>(() => RunExport.Run(new ExportOptions(Path.Combine(_dir, "o1"), RunDir: empty), TextWriter.Null, false));
        Assert.Contains("no checkpoint in the run", ex.Message);

        var full = Path.Combine(_dir, "full");
        Directory.CreateDirectory(full);
        File.WriteAllText(Path.Combine(full, "x"), "");
        Assert.Contains("not empty", Assert.Throws<SettingsException>(() => RunExport.Run(new ExportOptions(full, RunDir: empty), TextWriter.Null, false)).Message);
        Assert.Contains("unknown export format", Assert.Throws<SettingsException>(() =>
            RunExport.Run(new ExportOptions(Path.Combine(_dir, "o2"), RunDir: empty, Format: "onnx"), TextWriter.Null, false)).Message);
        Assert.Contains("fp32, bf16", Assert.Throws<SettingsException>(() =>
            RunExport.Run(new ExportOptions(Path.Combine(_dir, "o3"), RunDir: empty, DType: "fp16"), TextWriter.Null, false)).Message);
        Assert.False(Directory.Exists(Path.Combine(_dir, "o1")));
    }
}
