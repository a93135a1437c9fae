using RoRecomp.Settings;
using RoRecomp.Actors.Coordination;
using RoRecomp.Training.Runs;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.Tests.Pipeline;
using RoRecomp.Cli.Experiments;

namespace RoRecomp.Actors.Tests.Experiments;

/// <summary>compare: arms resolve to the right layers; a micro comparison runs, reports, and a second invocation skips it.</summary>
public sealed class CompareRunnerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-compare-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>The repository's hocon/experiments (walking up from the test binaries).</summary>
    private static string ExperimentsDir()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "hocon", "experiments");
            if (Directory.Exists(candidate) && File.Exists(Path.Combine(d.FullName, "hocon", "reference.conf"))) return candidate;
        }
        throw new InvalidOperationException("hocon/experiments not found above " + AppContext.BaseDirectory);
    }

    private Dictionary<string, RoRecompSettings> Settings(string task, IReadOnlyList<string> arms, params string[] sets) =>
        CompareRunner.Plan(new ExperimentOptions(task, arms, [11], Path.Combine(_dir, "plan-" + task), Sets: sets, ExperimentsDir: ExperimentsDir()))
            .ToDictionary(p => p.Arm, p => SettingsLoader.Load(p.Settings));

    [Fact]
    public void Arms_are_config_layers_over_the_task_config()
    {
        var all = Directory.GetFiles(ExperimentsDir(), "*.conf").Select(f => Path.GetFileNameWithoutExtension(f)!)
            .Where(n => n is not ("thinking" or "zero-rl" or "agentic" or "agentic-mixed")).ToList();
        Assert.Contains("priority-only", all);
        var s = Settings("thinking", [.. CompareRunner.BuiltInArms, .. all]);
        Assert.False(s["grpo"].Recomposition.Enabled);
        Assert.Equal(0, s["grpo"].Reward.LengthPenalty);
        Assert.True(s["rorecomp"].Recomposition.Enabled);
        Assert.False(s["length-penalty"].Recomposition.Enabled);
        Assert.Equal(CompareRunner.DefaultLengthPenalty, s["length-penalty"].Reward.LengthPenalty);
        Assert.Equal(0, s["priority-only"].Compensation.Every);
        Assert.True(s["priority-only"].Recomposition.Enabled);
        Assert.Equal("group", s["scope-group"].Recomposition.Scope);
        Assert.Equal("original", s["advantage-original"].Recomposition.AdvantageScope);
        Assert.Equal(("linear", 0.0), (s["compensation-linear"].Compensation.WeightSchedule, s["compensation-linear"].Compensation.WeightEnd));
        Assert.Equal("cosine", s["compensation-cosine"].Compensation.WeightSchedule);
        Assert.All(s.Values, x => Assert.Equal(("thinking", 200, 11), (x.Run.Task, x.Run.Steps, x.Run.Seed)));   // thinking.conf and the seed

        // A configured coefficient is the length-penalty arm's; the baselines stay unshaped.
        var tuned = Settings("thinking", ["grpo", "length-penalty"], "reward.length-penalty=0.2");
        Assert.Equal(0.2, tuned["length-penalty"].Reward.LengthPenalty);
        Assert.Equal(0, tuned["grpo"].Reward.LengthPenalty);

        Assert.Equal(600, Settings("zero-rl", ["grpo"])["grpo"].WarmStart.Steps);
        Assert.Equal("tool-calls-then-tokens", Settings("agentic", ["rorecomp"])["rorecomp"].Recomposition.LengthKey);
        var mixed = Settings("agentic-mixed", ["rorecomp"])["rorecomp"];
        Assert.Equal(("agentic-mixed", "tool-calls-then-tokens", 160, 1500), (mixed.Run.Task, mixed.Recomposition.LengthKey, mixed.Sampling.MaxNewTokens, mixed.WarmStart.Steps));
        Assert.Equal(0.4, mixed.WarmStart.TargetAccuracy);   // SFT stops in the 30-70% band (results/agentic-mixed/)

        var unknown = Assert.Throws<SettingsException>(() => Settings("thinking", ["grpo", "priorty-only"]));
        Assert.Contains("unknown arm 'priorty-only'", unknown.Message);
        var typo = Assert.Throws<SettingsException>(() => Settings("thinking", ["grpo"], "reward.length-penalti=0.2"));
        Assert.Contains("length-penalty", typo.Message);
    }

    /// <summary>The pipeline fixture's micro-run keys over its warm start, without a run directory (compare gives each run its own).</summary>
    private List<string> MicroRunSets()
    {
        var warm = PipelineFixture.WarmStart(Path.Combine(_dir, "warm"));
        return [.. PipelineFixture.Sets("unused", warm).Where(s => !s.StartsWith("run.run-dir=", StringComparison.Ordinal))];
    }

    [Fact]
    public async Task A_micro_comparison_finishes_writes_the_report_and_a_second_invocation_skips_it()
    {
        var sets = MicroRunSets();
        var outDir = Path.Combine(_dir, "exp");
        var options = new ExperimentOptions("thinking", ["grpo", "length-penalty"], [11], outDir, Steps: 2, Sets: sets, ExperimentsDir: ExperimentsDir());

        var log = new StringWriter();
        var first = await CompareRunner.RunAsync(options, log, CancellationToken.None);
        Assert.Empty(first.Failed);
        Assert.Equal((2, 0), (first.Ran, first.Skipped));
        foreach (var arm in new[] { "grpo", "length-penalty" })
            Assert.True(File.Exists(Path.Combine(outDir, arm, "seed-11", RunFiles.SummaryFile)), arm);
        Assert.Contains("reward.length-penalty = 0.5", File.ReadAllText(Path.Combine(outDir, "length-penalty", "seed-11", "run.conf")));
        Assert.False(Directory.Exists(Path.Combine(outDir, "warm-11")));   // model.checkpoint was set: no SFT
        Assert.NotNull(first.Report);
        Assert.True(File.Exists(Path.Combine(outDir, "report", "index.html")));
        Assert.True(File.Exists(Path.Combine(outDir, "report", "eval-accuracy.png")));
        Assert.Contains("compare [2/2] length-penalty seed 11: done", log.ToString());

        var againLog = new StringWriter();
        var again = await CompareRunner.RunAsync(options, againLog, CancellationToken.None);
        Assert.Equal((0, 2), (again.Ran, again.Skipped));
        Assert.Contains("compare [1/2] grpo seed 11: finished earlier", againLog.ToString());
    }

    [Fact]
    public async Task Two_runs_at_once_in_child_processes_give_the_same_metrics_as_one_at_a_time()
    {
        var sets = MicroRunSets();
        ExperimentOptions Options(string name, int parallel) =>
            new("thinking", ["grpo", "rorecomp"], [11], Path.Combine(_dir, name), Steps: 2, Sets: sets, ExperimentsDir: ExperimentsDir(), Parallel: parallel);

        var serial = await CompareRunner.RunAsync(Options("serial", 1), new StringWriter(), CancellationToken.None);
        var log = new StringWriter();
        var parallel = await CompareRunner.RunAsync(Options("parallel", 2), log, CancellationToken.None);

        Assert.Equal((2, 0), (serial.Ran, serial.Failed.Count));
        Assert.True((2, 0) == (parallel.Ran, parallel.Failed.Count), log.ToString());
        Assert.Contains(", 2 at once", log.ToString());
        foreach (var arm in new[] { "grpo", "rorecomp" })
        {
            Assert.True(File.Exists(Path.Combine(_dir, "parallel", "logs", $"{arm}-seed-11.log")), arm);
            var a = WithoutWallTime(Path.Combine(_dir, "serial", arm, "seed-11"));
            var b = WithoutWallTime(Path.Combine(_dir, "parallel", arm, "seed-11"));
            Assert.Equal(2, a.Count);
            Assert.True(a.SequenceEqual(b), $"{arm}: {Differences(a, b)}");
        }
    }

    [Fact]
    public async Task A_finished_run_that_steps_asks_to_go_further_continues_to_the_metrics_of_the_longer_run()
    {
        var sets = MicroRunSets();
        ExperimentOptions Options(string name, int steps, string arm) =>
            new("thinking", [arm], [11], Path.Combine(_dir, name), Steps: steps, Sets: sets, ExperimentsDir: ExperimentsDir());

        var straight = await CompareRunner.RunAsync(Options("straight", 3, "rorecomp"), new StringWriter(), CancellationToken.None);
        var shorter = await CompareRunner.RunAsync(Options("extended", 2, "rorecomp"), new StringWriter(), CancellationToken.None);
        var log = new StringWriter();
        var longer = await CompareRunner.RunAsync(Options("extended", 3, "rorecomp"), log, CancellationToken.None);

        Assert.Equal((1, 1, 0), (straight.Ran, shorter.Ran, straight.Failed.Count + shorter.Failed.Count));
        Assert.True((1, 0, 0) == (longer.Ran, longer.Skipped, longer.Failed.Count), log.ToString());
        Assert.Contains("rorecomp seed 11: finished at step 2; continuing it to step 3 (--steps)", log.ToString());
        var runDir = Path.Combine(_dir, "extended", "rorecomp", "seed-11");
        Assert.Equal(3, RunFiles.ReadSummary(runDir)!.Steps);
        var a = WithoutWallTime(Path.Combine(_dir, "straight", "rorecomp", "seed-11"));
        var b = WithoutWallTime(runDir);
        Assert.Equal(3, a.Count);
        Assert.True(a.SequenceEqual(b), Differences(a, b));
        var again = await CompareRunner.RunAsync(Options("extended", 3, "rorecomp"), new StringWriter(), CancellationToken.None);
        Assert.Equal((0, 1), (again.Ran, again.Skipped));

        // A compensation weight that decays over run.steps ran its whole schedule in the shorter run: refused, nothing trains.
        var linear = Path.Combine(_dir, "extended", "compensation-linear", "seed-11");
        Directory.CreateDirectory(linear);
        RunFiles.WriteSummary(linear, RunFiles.ReadSummary(Path.Combine(_dir, "straight", "rorecomp", "seed-11"))! with { Steps = 2 });
        var refusedLog = new StringWriter();
        var refused = await CompareRunner.RunAsync(Options("extended", 3, "compensation-linear"), refusedLog, CancellationToken.None);
        Assert.Equal(0, refused.Ran);
        Assert.Equal(["compensation-linear/seed-11: finished at step 2; a linear compensation schedule cannot be continued to 3 steps"], refused.Failed);
        Assert.Contains("weight-schedule \"linear\" ran over its 2 steps", refusedLog.ToString());
        Assert.False(File.Exists(Path.Combine(linear, RunFiles.MetricsFile)));
    }

    /// <summary>The keys whose values differ, line by line ("step N: key a vs b").</summary>
    private static string Differences(List<string> a, List<string> b) => string.Join("; ", a.Zip(b, (x, y) => (First: x, Second: y)).SelectMany((p, i) =>
    {
        var x = System.Text.Json.Nodes.JsonNode.Parse(p.First)!.AsObject();
        var y = System.Text.Json.Nodes.JsonNode.Parse(p.Second)!.AsObject();
        return x.Select(kv => kv.Key).Union(y.Select(kv => kv.Key))
            .Where(k => x[k]?.ToJsonString() != y[k]?.ToJsonString())
            .Select(k => $"line {i + 1}: {k} {x[k]?.ToJsonString()} vs {y[k]?.ToJsonString()}");
    }));

    /// <summary>Each metrics.jsonl line with its timings (wall_s, step_s, train_s: the keys in seconds) removed.</summary>
    private static List<string> WithoutWallTime(string runDir) =>
        [.. File.ReadLines(Path.Combine(runDir, RunFiles.MetricsFile)).Select(line =>
        {
            var o = System.Text.Json.Nodes.JsonNode.Parse(line)!.AsObject();
            foreach (var key in o.Select(kv => kv.Key).Where(k => k.EndsWith("_s", StringComparison.Ordinal)).ToList())
                o.Remove(key);
            return o.ToJsonString();
        })];
}
