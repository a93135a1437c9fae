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
        var catalogue = FaultPlan.Catalogue("postgresql");
        var a = FaultPlan.Make(60, 1, 120, catalogue, 8000, 6000);
        Assert.Equal(a, FaultPlan.Make(60, 1, 120, catalogue, 8000, 6000));
        Assert.NotEqual(a, FaultPlan.Make(60, 2, 120, catalogue, 8000, 6000));
        Assert.Equal(60, a.Count);
        Assert.All(a, f => Assert.InRange(f.AtStep, 1, 118));
        Assert.Equal(a.OrderBy(f => f.AtStep), a);
        Assert.All(Enum.GetValues<FaultKind>(), k => Assert.Contains(k, a.Select(f => f.Kind)));   // seed 1: 60 draws reach every kind
        Assert.All(a.Where(f => f.Kind == FaultKind.StopSampler), f => Assert.InRange(f.PauseMs, 8000, 11000));
        Assert.All(a.Where(f => f.Kind == FaultKind.Partition), f => Assert.InRange(f.PauseMs, 6000, 9000));
        Assert.All(a.Where(f => f.Kind == FaultKind.DiskFull), f => Assert.InRange(f.PauseMs, 2000, 20000));
        var sqlite = FaultPlan.Make(60, 1, 120, FaultPlan.Catalogue("sqlite"), 8000, 6000);
        Assert.DoesNotContain(sqlite, f => f.Kind is FaultKind.RestartDatabase or FaultKind.DatabaseDown);
        Assert.Contains(sqlite, f => f.Kind is FaultKind.Partition);
        Assert.All(Enum.GetValues<FaultKind>(), k => Assert.Equal(k, FaultPlan.Parse(FaultPlan.Name(k))));
    }

    [Fact]
    public void Restricting_the_catalogue_draws_only_those_kinds_and_keeps_the_earlier_kinds_plans()
    {
        // The new kinds come last in the catalogue, so the earlier kinds alone draw the plans they drew before them:
        // the CI run's seed 7 still kills the learner side, kills samplers and stops one.
        var ci = FaultPlan.Make(15, ShortRunSeed, 24, FaultPlan.Catalogue("sqlite", EarlierKinds), 11000, 6000);
        Assert.Equal(
            "kill-verifier@6 kill-sampler-fetch@7 kill-sampler-fetch@7 stop@7 kill-learner-checkpoint@8 stop@9 kill-sampler@10 stop@11 " +
            "kill-sampler@11 kill-learner-checkpoint@11 kill-learner@17 kill-verifier@19 kill-sampler@21 kill-sampler@21 kill-sampler@22",
            string.Join(' ', ci.Select(f => $"{FaultPlan.Name(f.Kind)}@{f.AtStep}")));
        var partitions = FaultPlan.Make(5, 3, 8, FaultPlan.Catalogue("sqlite", [FaultKind.Partition]), 11000, 6000);
        Assert.All(partitions, f => Assert.Equal(FaultKind.Partition, f.Kind));
        Assert.Empty(FaultPlan.Catalogue("sqlite", [FaultKind.DatabaseDown]));
        Assert.Throws<ArgumentException>(() => FaultPlan.Make(1, 1, 8, FaultPlan.Catalogue("sqlite", [FaultKind.DatabaseDown]), 1, 1));
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
        var options = new ChaosOptions(15, ShortRunSeed, Path.Combine(_dir, "chaos")) { Steps = 24, Kinds = [.. EarlierKinds.Select(FaultPlan.Name)] };
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

    /// <summary>The kinds of the CI run (every kind but partition, disk and the PostgreSQL ones, which have short runs of their own).</summary>
    private static readonly FaultKind[] EarlierKinds =
        [FaultKind.KillSampler, FaultKind.KillSamplerInFetch, FaultKind.KillVerifier, FaultKind.KillLearner, FaultKind.KillLearnerInCheckpoint, FaultKind.StopSampler];

    /// <summary>A short chaos run (6 steps) with only <paramref name="kind"/> faults; asserts that it equals the undisturbed run and returns its log.</summary>
    private async Task<string> ShortRunOf(string kind, int faults, int seed, string journal = "sqlite")
    {
        var output = new StringWriter();
        var options = new ChaosOptions(faults, seed, Path.Combine(_dir, kind)) { Steps = 6, Kinds = [kind], Journal = journal };
        var result = await ChaosRunner.RunAsync(options, TextWriter.Synchronized(output), CancellationToken.None);
        var log = output.ToString();
        Assert.True(result.Ok, result.Line() + "\n" + log);
        Assert.Equal(faults, result.Counts[kind]);
        Assert.Equal(faults, result.Counts.Values.Sum());
        Assert.Matches($@"^chaos: faults {faults} \({kind} {faults}\), steps 6/6, equal to undisturbed: yes, responses lost 0, duplicates 0, wall \d+ s$", result.Line());
        return log;
    }

    [ChaosFact(root: true, run: true)]
    public async Task A_partition_of_a_worker_node_longer_than_stable_after_then_healed_equals_the_undisturbed_run()
    {
        var log = await ShortRunOf("partition", 2, 5);
        Assert.Equal(2, CountOf(log, "cut off for"));
        Assert.Equal(2, CountOf(log, "healed (its link up again)"));
        Assert.DoesNotContain(Directory.EnumerateFiles("/run/netns"), n => Path.GetFileName(n).StartsWith($"rrc{Environment.ProcessId}", StringComparison.Ordinal));
    }

    [ChaosFact(root: true, run: true)]
    public async Task A_full_disk_under_the_run_directory_for_a_while_equals_the_undisturbed_run()
    {
        var log = await ShortRunOf("disk", 1, 2);
        Assert.Contains("the run directory's tmpfs filled", log);
        Assert.Contains("disk: ballast deleted", log);
        // The tmpfs is unmounted and the run's files are back on the real disk.
        Assert.DoesNotContain(Path.Combine(_dir, "disk", "disturbed"), File.ReadAllText("/proc/mounts"));
        Assert.True(File.Exists(RunFiles.PathOf(Path.Combine(_dir, "disk", "disturbed"), RunFiles.MetricsFile)));
    }

    [ChaosFact(postgres: true, run: true)]
    public async Task The_journal_unavailable_for_longer_than_a_step_equals_the_undisturbed_run()
    {
        var log = await ShortRunOf("db-down", 1, 3, "postgresql");
        Assert.Contains("PostgreSQL stopped for", log);
        Assert.Contains("PostgreSQL started again", log);
    }

    private static int CountOf(string text, string what) => (text.Length - text.Replace(what, "", StringComparison.Ordinal).Length) / what.Length;

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
