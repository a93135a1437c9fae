using System.Text.Json.Nodes;
using RoRecomp.Cli.Chaos;
using RoRecomp.Training.Runs;

namespace RoRecomp.Actors.Tests.Chaos;

/// <summary>
/// The chaos harness (<c>rorecomp chaos</c>): its seeded fault plan, its oracle on hand-made runs (it must see a
/// difference), and a short chaos run of a real cluster on 127.0.0.1 with 15 faults that must match the undisturbed run.
/// </summary>
public sealed class ChaosTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-chaos-").FullName;

    public void Dispose() => TestDirs.Delete(_dir);

    [Fact]
    public void The_fault_plan_is_seeded_and_fires_every_fault_before_the_last_step()
    {
        var a = FaultPlan.Make(60, 1, 120, "postgresql", 8000);
        Assert.Equal(a, FaultPlan.Make(60, 1, 120, "postgresql", 8000));
        Assert.NotEqual(a, FaultPlan.Make(60, 2, 120, "postgresql", 8000));
        Assert.Equal(60, a.Count);
        Assert.All(a, f => Assert.InRange(f.AtStep, 1, 118));
        Assert.Equal(a.OrderBy(f => f.AtStep), a);
        Assert.All(Enum.GetValues<FaultKind>(), k => Assert.Contains(k, a.Select(f => f.Kind)));   // seed 1: 60 draws reach every kind
        Assert.All(a.Where(f => f.Kind == FaultKind.StopSampler), f => Assert.InRange(f.PauseMs, 8000, 11000));
        Assert.DoesNotContain(FaultPlan.Make(60, 1, 120, "sqlite", 8000), f => f.Kind == FaultKind.RestartDatabase);
    }

    [Fact]
    public void The_oracle_passes_equal_runs_and_names_every_kind_of_difference()
    {
        var reference = Run("reference", Lines(6));
        var same = Run("same", Lines(6, wall: 99));
        var ok = ChaosOracle.Judge(same, ["a", "b"], reference, ["a", "b"], 6, 4, 4, 0, new HashSet<string>());
        Assert.True(ok.Equal);
        Assert.Empty(ok.Differences);
        Assert.Equal((6, 0L, 0L), (ok.StepsDone, ok.ResponsesLost, ok.Duplicates));

        // A changed loss, a step written twice, a lost step, a short step, a lag over the bound, a buffer id twice.
        var lines = Lines(6);
        lines[2]["loss"] = 0.5;
        lines[3]["responses"] = 12;
        lines[4]["policy_lag"] = 1;
        lines.Insert(2, lines[1].DeepClone().AsObject());
        lines.RemoveAt(lines.Count - 1);
        var bad = Run("bad", lines, weights: "other");
        var v = ChaosOracle.Judge(bad, ["a", "b", "b"], reference, ["a", "b"], 6, 4, 4, 0, new HashSet<string>());
        Assert.False(v.Equal);
        Assert.Contains(v.Differences, d => d.Contains("step 3: loss = 0.5", StringComparison.Ordinal));
        Assert.Contains(v.Differences, d => d.Contains("step 2 is written twice", StringComparison.Ordinal));
        Assert.Contains(v.Differences, d => d.Contains("1 of 6 steps missing", StringComparison.Ordinal));
        Assert.Contains(v.Differences, d => d.Contains("step 4: 12 responses, not 16", StringComparison.Ordinal));
        Assert.Contains(v.Differences, d => d.Contains("policy_lag 1 exceeds", StringComparison.Ordinal));
        Assert.Contains(v.Differences, d => d.Contains("holds 1 ids twice", StringComparison.Ordinal));
        Assert.Contains(v.Differences, d => d.Contains("replay buffer ids differ", StringComparison.Ordinal));
        Assert.Contains(v.Differences, d => d.StartsWith("final checkpoint model.safetensors: SHA-256", StringComparison.Ordinal));
        Assert.DoesNotContain(v.Differences, d => d.Contains("optimizer", StringComparison.Ordinal));
        Assert.Equal(4 + 16, v.ResponsesLost);   // 4 responses short in step 4, step 6's 16 missing
        Assert.Equal(16 + 1, v.Duplicates);       // step 2 twice, one buffer id twice

        // An ignored key is reported but does not make the runs unequal; without a reference nothing is compared.
        var sizes = Lines(6);
        sizes[1]["buffer_size"] = 7;
        var ignored = ChaosOracle.Judge(Run("ignored", sizes), [], reference, [], 6, 4, 4, 0, new HashSet<string> { "buffer_size" });
        Assert.True(ignored.Equal);
        Assert.Single(ignored.Differences, d => d.EndsWith("(ignored: --ignore-key)", StringComparison.Ordinal));
        Assert.Null(ChaosOracle.Judge(Run("lag", sizes), [], null, null, 6, 4, 4, 1, new HashSet<string>()).Equal);
    }

    [Fact]
    public async Task A_short_chaos_run_of_a_real_cluster_with_15_faults_equals_the_undisturbed_run()
    {
        var output = new StringWriter();
        // Every key is compared, buffer_size too (the buffer rewinds to the step a killed learner resumes from).
        var options = new ChaosOptions(15, ShortRunSeed, Path.Combine(_dir, "chaos")) { Steps = 24 };
        var result = await ChaosRunner.RunAsync(options, TextWriter.Synchronized(output), CancellationToken.None);
        var log = output.ToString();
        Assert.True(result.Ok, result.Line() + "\n" + log);
        Assert.Equal(15, result.Counts.Values.Sum());
        Assert.True(result.Counts["kill-learner"] + result.Counts["kill-learner-checkpoint"] >= 1, log);
        Assert.True(result.Counts["stop"] >= 1 && result.Counts["kill-sampler"] + result.Counts["kill-sampler-fetch"] >= 1, log);
        Assert.True(result.Verdict!.Equal);
        Assert.Matches(@"^chaos: faults 15 \(.*\), steps 24/24, equal to undisturbed: yes, responses lost 0, duplicates 0, wall \d+ s$", result.Line());
        Assert.Contains("restarted with --resume", log);
    }

    /// <summary>A seed whose 15-fault plan over 24 steps kills the learner side, kills samplers and stops one.</summary>
    private const int ShortRunSeed = 7;

    private static List<JsonObject> Lines(int steps, double wall = 1) =>
    [
        .. Enumerable.Range(1, steps).Select(s => new JsonObject
        {
            ["step"] = s, ["policy_version"] = s, ["accuracy"] = 0.25, ["responses"] = 16, ["buffer_size"] = 3 * s, ["policy_lag"] = 0,
            ["loss"] = 0.125 * s, ["cursor"] = 4 * s, ["step_s"] = wall, ["train_s"] = wall, ["wall_s"] = wall * s,
        }),
    ];

    /// <summary>A run directory with <paramref name="lines"/> as metrics.jsonl and a final (step 6) checkpoint whose model file holds <paramref name="weights"/>.</summary>
    private string Run(string name, List<JsonObject> lines, string weights = "w")
    {
        var dir = Path.Combine(_dir, name);
        Directory.CreateDirectory(dir);
        File.WriteAllLines(RunFiles.PathOf(dir, RunFiles.MetricsFile), lines.Select(l => l.ToJsonString()));
        foreach (var file in ChaosOracle.CheckpointFiles)
        {
            var path = ChaosOracle.FinalCheckpointFile(dir, 6, file);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, file == ChaosOracle.CheckpointFiles[0] ? weights : "adam");
        }
        return dir;
    }
}
