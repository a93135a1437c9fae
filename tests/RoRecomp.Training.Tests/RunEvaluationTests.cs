using System.Text.Json;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;
using RoRecomp.Settings;
using RoRecomp.Tasks;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Steps;
using static TorchSharp.torch;

namespace RoRecomp.Training.Tests;

/// <summary><c>rorecomp eval</c> on run directories laid out as <c>train</c> leaves them (run.conf, checkpoints/step-N).</summary>
public sealed class RunEvaluationTests : IDisposable
{
    private const string RunConf = """
        rorecomp.run.task = "agentic-mixed"
        rorecomp.run.seed = 3
        rorecomp.run.eval-size = 24
        rorecomp.sampling.max-new-tokens = 48
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-eval-test-").FullName;

    public RunEvaluationTests() => TorchRuntime.EnsureLoaded();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A run directory with <see cref="RunConf"/> and a checkpoint of a different random policy at each step.</summary>
    private string Run(params long[] steps)
    {
        var run = Path.Combine(_dir, "run");
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, RunFiles.RunConfigFile), RunConf);
        var store = new CheckpointStore(RunContext.CheckpointDirectoryOf(run));
        foreach (var step in steps)
        {
            using var policy = Policy(step);
            using var scope = NewDisposeScope();
            store.Save(step, step, policy.state_dict(), new Dictionary<string, Tensor>(), JsonSerializer.Serialize(policy.Config));
        }
        return run;
    }

    private static PolicyTransformer Policy(long step)
    {
        TorchRuntime.ManualSeed((int)step);
        var vocab = RunContext.CreateTokenizer(Settings(), RunContext.CreateTask(Settings())).VocabSize;
        return new PolicyTransformer(new TransformerConfig(vocab, 32, 64, 2, 2, 1, 256));
    }

    /// <summary>The settings of <see cref="RunConf"/>, with <paramref name="more"/> keys over them.</summary>
    private static RoRecompSettings Settings(params string[] more) =>
        SettingsLoader.Load(null, ["run.task=agentic-mixed", "run.seed=3", "run.eval-size=24", "sampling.max-new-tokens=48", .. more]);

    /// <summary>What the run's evaluator computes for the policy of <paramref name="step"/> (<see cref="HeldOutEvaluation.Run"/>).</summary>
    private static HeldOutEvaluation Direct(long step, RoRecompSettings settings)
    {
        using var policy = Policy(step);
        var task = RunContext.CreateTask(settings);
        return HeldOutEvaluation.Run(policy, task, RunContext.CreateTokenizer(settings, task), settings, step);
    }

    [Fact]
    public void The_latest_checkpoint_or_a_given_one_gets_the_evaluation_the_run_makes_with_its_settings()
    {
        var run = Run(10, 20);
        var output = new StringWriter();

        var latest = RunEvaluation.Run(new EvalOptions(RunDir: run), output);
        Assert.Equal(Direct(20, Settings()), latest);
        Assert.Equal(24, latest.Responses);
        // agentic-mixed audits its calls: the figure is there (0 for a random policy that makes no calls is fine) and never above the total.
        Assert.NotNull(latest.UnnecessaryToolCalls);
        Assert.InRange(latest.UnnecessaryToolCalls!.Value, 0, latest.ToolCalls);

        var out10 = Path.Combine(_dir, "out", "step-10.json");
        var at10 = RunEvaluation.Run(new EvalOptions(Checkpoint: Path.Combine(RunContext.CheckpointDirectoryOf(run), "step-000010"), Out: out10), output);
        Assert.Equal(Direct(10, Settings()), at10);
        Assert.Equal(RunFiles.FormatEvaluation(at10), File.ReadAllText(out10));
        Assert.Contains("eval step 10: accuracy", output.ToString(), StringComparison.Ordinal);

        var smaller = RunEvaluation.Run(new EvalOptions(RunDir: run, EvalSize: 8), output);
        Assert.Equal(Direct(20, Settings("run.eval-size=8")), smaller);
        Assert.Equal(8, smaller.Responses);
    }

    [Fact]
    public void A_task_without_an_audit_has_no_unnecessary_calls_and_writes_no_such_key()
    {
        var settings = SettingsLoader.Load(null, ["run.task=thinking", "run.eval-size=8", "sampling.max-new-tokens=16"]);
        var task = RunContext.CreateTask(settings);
        Assert.IsNotAssignableFrom<IToolCallAudit>(task);
        TorchRuntime.ManualSeed(1);
        using var policy = new PolicyTransformer(new TransformerConfig(RunContext.CreateTokenizer(settings, task).VocabSize, 32, 64, 2, 2, 1, 160));
        var e = HeldOutEvaluation.Run(policy, task, RunContext.CreateTokenizer(settings, task), settings, 0);
        Assert.Null(e.UnnecessaryToolCalls);
        Assert.DoesNotContain("unnecessary", RunFiles.FormatEvaluation(e), StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_options_and_missing_runs_are_refused_with_what_to_give()
    {
        var output = new StringWriter();
        var bare = Path.Combine(_dir, "bare", "checkpoints", "step-000001");
        Directory.CreateDirectory(bare);
        var noConf = Assert.Throws<SettingsException>(() => RunEvaluation.Run(new EvalOptions(Checkpoint: bare), output));
        Assert.Contains("--run-dir", noConf.Message, StringComparison.Ordinal);

        Assert.Throws<SettingsException>(() => RunEvaluation.Run(new EvalOptions(RunDir: _dir, EvalSize: 0), output));
        Assert.Throws<CheckpointException>(() => RunEvaluation.Run(new EvalOptions(RunDir: Path.Combine(_dir, "none")), output));
        var empty = Path.Combine(_dir, "empty");
        Directory.CreateDirectory(empty);
        File.WriteAllText(Path.Combine(empty, RunFiles.RunConfigFile), RunConf);
        var none = Assert.Throws<CheckpointException>(() => RunEvaluation.Run(new EvalOptions(RunDir: empty), output));
        Assert.Contains("no checkpoint in the run", none.Message, StringComparison.Ordinal);
    }
}
