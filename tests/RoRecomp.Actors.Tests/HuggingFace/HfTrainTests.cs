using System.Text.Json.Nodes;
using RoRecomp.Actors.Runners;
using RoRecomp.Cli;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.HuggingFace;
using RoRecomp.Model.Transformer;
using RoRecomp.Model.Tests.HuggingFace;
using RoRecomp.Settings;
using RoRecomp.Training;
using RoRecomp.Training.Runs;

namespace RoRecomp.Actors.Tests.HuggingFace;

/// <summary>
/// <c>train</c> through the actors on a real Hugging Face directory (tiny qwen2, bf16 weights in two shards, Qwen's
/// tokenizer and chat template) and a GSM8K-format JSONL file, with the example config as the base layer: RL steps, a
/// checkpoint, <c>--resume</c>, <c>export --format hf</c> reloading with identical logits; and the example config with a
/// missing model directory refused before anything starts.
/// </summary>
public sealed class HfTrainTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-hf-train-").FullName;

    public void Dispose() => TestDirs.Delete(_dir);

    private static List<JsonNode> Metrics(string runDir) =>
        [.. File.ReadAllLines(Path.Combine(runDir, RunFiles.MetricsFile)).Select(l => JsonNode.Parse(l)!)];

    private static string[] Sets(string runDir, string model, string data, params string[] more) =>
    [
        $"run.run-dir={runDir}",
        "run.task=jsonl",
        $"task.train-path={data}",
        "model.source=hf",
        $"model.path={model}",
        "model.dtype=bf16",
        "model.device=auto",
        "model.attention=sdpa",
        "run.prompts-per-step=4",
        "run.samples-per-prompt=2",
        "run.lease-size=2",
        "run.eval-every=0",
        "run.eval-size=4",
        "sampling.max-new-tokens=16",
        "compensation.batch-size=4",
        "checkpoint.every=2",
        "policy-loss.lr=1e-4",
        "policy-loss.max-tokens-per-micro-batch=256",
        .. more,
    ];

    private static string Example => Path.Combine(TestAssetsRoot(), "hocon", "examples", "qwen2.5-math-gsm8k.conf");

    private static Task<RunSummary> Train(string[] sets, int steps, TextWriter log, bool resume = false) =>
        TrainRunner.RunAsync(new TrainOptions(new SettingsOverrides(Example, [.. sets]) { Steps = steps }, Resume: resume), log, false, CancellationToken.None);

    [Fact]
    public async Task A_sharded_bf16_qwen2_directory_trains_on_a_jsonl_dataset_checkpoints_and_resumes()
    {
        var model = TinyHfDirectory.Write(Path.Combine(_dir, "model"));
        var data = Path.Combine(_dir, "train.jsonl");
        TinyHfDirectory.WriteArithmetic(data, 300);
        File.AppendAllLines(data, ["""{"question": "no answer here"}""", "{not json"]);
        var run = Path.Combine(_dir, "run");
        var test = TinyHfDirectory.WriteArithmetic(Path.Combine(_dir, "test.jsonl"), 40);
        var sets = Sets(run, model, data, $"task.test-path={test}", "checkpoint.keep-last=5");

        var log = new StringWriter();
        var first = await Train(sets, 2, log);
        Assert.Equal(2, first.Steps);
        var text = log.ToString();
        Assert.Contains("is the starting policy: no supervised warm start", text);
        Assert.Contains("2 malformed row(s) skipped", text);
        Assert.Contains("device: auto", text);
        Assert.False(Directory.Exists(Path.Combine(run, "sft")));
        var checkpoints = Directory.GetDirectories(RunContext.CheckpointDirectoryOf(run));
        Assert.NotEmpty(checkpoints);
        var lines = Metrics(run);
        Assert.Equal([1L, 2], lines.Select(l => l["step"]!.GetValue<long>()));
        Assert.All(lines, l => Assert.True(l["mean_length"]!.GetValue<double>() is > 0 and <= 16));

        var resumed = new StringWriter();
        await Train(sets, 3, resumed, resume: true);
        Assert.Contains("resuming from step 2", resumed.ToString());
        lines = Metrics(run);
        Assert.Equal([1L, 2, 3], lines.Select(l => l["step"]!.GetValue<long>()));
        Assert.Equal(3, lines[^1]["policy_version"]!.GetValue<long>());

        // Export: the run's newest checkpoint as a Hugging Face directory, with the source model's tokenizer files.
        var exported = Path.Combine(_dir, "exported");
        Assert.Equal(0, Program.Main(["export", "--format", "hf", "--out", exported, "--run-dir", run]));
        Assert.Equal(File.ReadAllBytes(Path.Combine(model, "tokenizer.json")), File.ReadAllBytes(Path.Combine(exported, "tokenizer.json")));
        using var newest = new CheckpointStore(RunContext.CheckpointDirectoryOf(run), keepLast: int.MaxValue).LoadLatestGood(out _)!;
        using var trained = new PolicyTransformer(RunContext.ModelConfigOf(newest));
        StateDicts.Load(trained, newest.Model, strict: true, newest.Path);
        var (reloaded, report) = HfModelLoader.Load(exported);
        using (reloaded)
        using (var scope = TorchSharp.torch.NewDisposeScope())
        using (var ng = TorchSharp.torch.no_grad())
        {
            Assert.True(report.IsExact);
            var tokens = TorchSharp.torch.tensor(new long[] { 9707, 11, 1879, 0, 220, 16 }, [2, 3]);
            var positions = TorchSharp.torch.arange(3L).unsqueeze(0).expand(2, 3);
            var mask = TorchSharp.torch.ones(2, 3, dtype: TorchSharp.torch.ScalarType.Bool);
            trained.eval();
            reloaded.eval();
            Assert.Equal(0f, (trained.Forward(tokens, positions, mask) - reloaded.Forward(tokens, positions, mask)).abs().max().item<float>());
        }
    }

    [Fact]
    public async Task The_example_config_with_a_missing_model_directory_is_a_settings_error_and_leaves_no_run()
    {
        var run = Path.Combine(_dir, "example");
        var example = Example;
        var data = TinyHfDirectory.WriteArithmetic(Path.Combine(_dir, "gsm8k.jsonl"), 50);
        var e = await Assert.ThrowsAsync<SettingsException>(() => TrainRunner.RunAsync(
            new TrainOptions(new SettingsOverrides(example, [$"run.run-dir={run}", $"model.path={Path.Combine(_dir, "no-model")}", $"task.train-path={data}", $"task.test-path={data}"])),
            TextWriter.Null, false, CancellationToken.None));
        Assert.Contains("rorecomp.model.path", e.Message);
        Assert.Contains("no-model", e.Message);
        Assert.False(File.Exists(Path.Combine(run, TrainRunner.RunConfigFile)));
    }

    private static string TestAssetsRoot() => RoRecomp.Model.Tests.TestAssets.RepoRoot();
}
