using System.Diagnostics;
using System.Text.Json.Nodes;
using RoRecomp.Settings;
using RoRecomp.Actors.Coordination;
using RoRecomp.Training.Runs;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.Hosting;
using RoRecomp.Actors.Persistence;
using RoRecomp.Training;
using RoRecomp.Actors.Runners;
using RoRecomp.Actors.ReplayBuffer;

namespace RoRecomp.Actors.Tests.Pipeline;

/// <summary>The train job end to end on a micro policy: metrics, summary, resume, bad input, and a SIGKILL mid-run.</summary>
public sealed class TrainRunTests : IDisposable
{
    private static readonly string[] RequiredKeys =
        ["step", "policy_version", "accuracy", "mean_length", "tool_calls", "priority_size", "compensation_size", "buffer_size", "wall_s"];

    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-train-").FullName;
    private readonly string _warm;

    public TrainRunTests() => _warm = PipelineFixture.WarmStart(Path.Combine(_dir, "warm"));

    public void Dispose()
    {
        TestDirs.Delete(_dir);
    }

    private static List<JsonNode> Metrics(string runDir) =>
        [.. File.ReadAllLines(Path.Combine(runDir, RunFiles.MetricsFile)).Select(l => JsonNode.Parse(l)!)];

    private Task<RunSummary> Train(string runDir, int steps, bool resume = false, params string[] more) =>
        TrainRunner.RunAsync(new TrainOptions(new SettingsOverrides(null, PipelineFixture.Sets(runDir, _warm, more)) { Steps = steps }, Resume: resume), TextWriter.Null, false, CancellationToken.None);

    [Fact]
    public async Task A_short_run_writes_each_step_once_and_a_resume_continues_where_it_stopped()
    {
        var run = Path.Combine(_dir, "run");
        var summary = await Train(run, 4);
        Assert.Equal(4, summary.Steps);
        Assert.True(double.IsFinite(summary.WarmStartMeanLength) && double.IsFinite(summary.FinalMeanLength));
        var lines = Metrics(run);
        Assert.Equal([1L, 2, 3, 4], lines.Select(l => l["step"]!.GetValue<long>()));
        Assert.All(lines, l => Assert.All(RequiredKeys, k => Assert.NotNull(l[k])));
        Assert.Equal([4L, 8, 12, 16], lines.Select(l => l["cursor"]!.GetValue<long>()));   // 4 prompts a step, none lost or repeated
        Assert.Equal([1L, 2, 3, 4], lines.Select(l => l["policy_version"]!.GetValue<long>()));
        Assert.NotNull(lines[1]["eval_accuracy"]);
        Assert.NotNull(lines[1]["eval_mean_length"]);
        Assert.All(lines, l => Assert.Equal(16, l["priority_size"]!.GetValue<int>() + StoredOf(l)));
        Assert.True(File.Exists(Path.Combine(run, RunFiles.SummaryFile)));
        Assert.True(File.Exists(Path.Combine(run, TrainRunner.RunConfigFile)));

        // A second fresh run into the same directory is refused; --resume with more steps continues from step 4.
        var again = await Assert.ThrowsAsync<SettingsException>(() => Train(run, 4));
        Assert.Contains("--resume", again.Message);
        await Train(run, 6, resume: true);
        lines = Metrics(run);
        Assert.Equal([1L, 2, 3, 4, 5, 6], lines.Select(l => l["step"]!.GetValue<long>()));
        Assert.Equal(24, lines[^1]["cursor"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_moved_run_resumes_from_its_last_checkpoint_and_a_lost_journal_is_refused()
    {
        var run = Path.Combine(_dir, "before");
        await Train(run, 4);
        Assert.True(File.Exists(Path.Combine(run, PersistenceHocon.RunIdFile)));
        var moved = Path.Combine(_dir, "after");
        Directory.Move(run, moved);
        var log = new StringWriter();
        await TrainRunner.RunAsync(new TrainOptions(new SettingsOverrides(null, PipelineFixture.Sets(moved, _warm)) { Steps = 6 }, Resume: true), log, false, CancellationToken.None);
        Assert.Contains("resuming from step 4", log.ToString());
        Assert.Equal([1L, 2, 3, 4, 5, 6], Metrics(moved).Select(l => l["step"]!.GetValue<long>()));
        Assert.Equal(24, Metrics(moved)[^1]["cursor"]!.GetValue<long>());

        File.Delete(Path.Combine(moved, PersistenceHocon.DefaultSqliteFile));
        var lost = await Assert.ThrowsAsync<SettingsException>(() => Train(moved, 8, resume: true));
        Assert.Contains("holds checkpoints but not its journal", lost.Message);
        Assert.Equal(6, Metrics(moved).Count);
    }

    [Fact]
    public async Task A_busy_port_or_bad_hostname_is_a_settings_error_and_leaves_no_half_started_run()
    {
        var run = Path.Combine(_dir, "busy");
        var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        try
        {
            var port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
            var inUse = await Assert.ThrowsAsync<SettingsException>(() => TrainRunner.RunAsync(
                new TrainOptions(new SettingsOverrides(null, PipelineFixture.Sets(run, _warm)) { Steps = 2, Port = port }, Cluster: true),
                TextWriter.Null, false, CancellationToken.None));
            Assert.Contains($"cannot listen on 127.0.0.1:{port} (--port in use", inUse.Message);
        }
        finally
        {
            busy.Stop();
        }
        var badHost = await Assert.ThrowsAsync<SettingsException>(() => Train(run, 2, false, "cluster.hostname=no-such-host.invalid"));
        Assert.Contains("--hostname no-such-host.invalid (rorecomp.cluster.hostname) does not resolve", badHost.Message);
        Assert.False(File.Exists(Path.Combine(run, TrainRunner.RunConfigFile)));

        // The run directory was not left holding a run: the same command, without --resume, runs.
        Assert.Equal(2, (await Train(run, 2)).Steps);
    }

    [Fact]
    public async Task Async_rollouts_stay_within_max_policy_lag_also_across_a_resume()
    {
        var run = Path.Combine(_dir, "async");
        await Train(run, 6, false, "async.max-policy-lag=1", "checkpoint.every=3");
        await Train(run, 10, true, "async.max-policy-lag=1");
        var lines = Metrics(run);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), lines.Select(l => l["step"]!.GetValue<long>()));
        var lags = lines.Select(l => l["policy_lag"]!.GetValue<long>()).ToList();
        Assert.All(lags, lag => Assert.InRange(lag, 0, 1));
        Assert.Contains(1L, lags.Skip(1));   // sampling really ran a version behind (the step after a resume included)
        Assert.Equal(Enumerable.Range(1, 10).Select(i => 4L * i), lines.Select(l => l["cursor"]!.GetValue<long>()));
    }

    // Every response of the step is either trained now (priority) or stored for later (compensation remainder):
    // the remainder is what the buffer grew by plus what this step drew from it.
    private static int StoredOf(JsonNode l) => 16 - l["priority_size"]!.GetValue<int>();

    [Fact]
    public async Task Bad_input_fails_with_one_clear_message()
    {
        var missing = await Assert.ThrowsAsync<SettingsException>(() => Train(Path.Combine(_dir, "none"), 2, resume: true));
        Assert.Contains("no run to resume", missing.Message);
        var typo = await Assert.ThrowsAsync<SettingsException>(() => Train(Path.Combine(_dir, "typo"), 2, false, "recomposition.priority-fractoin=0.5"));
        Assert.Contains("priority-fraction", typo.Message);
        var range = await Assert.ThrowsAsync<SettingsException>(() => Train(Path.Combine(_dir, "range"), 2, false, "recomposition.priority-fraction=1.5"));
        Assert.Contains("priority-fraction", range.Message);
        var locked = Path.Combine(_dir, "locked");
        using (RunDirectoryLock.Acquire(locked))
        {
            var inUse = await Assert.ThrowsAsync<SettingsException>(() => Train(locked, 2));
            Assert.Contains("in use by another process", inUse.Message);
        }
        var corrupt = Path.Combine(_dir, "corrupt-warm");
        Directory.CreateDirectory(corrupt);
        var noWarm = await Assert.ThrowsAsync<SettingsException>(() =>
            TrainRunner.RunAsync(new TrainOptions(new SettingsOverrides(null, [.. PipelineFixture.Sets(Path.Combine(_dir, "nowarm"), corrupt)]) { Steps = 2 }), TextWriter.Null, false, CancellationToken.None));
        Assert.Contains("no loadable checkpoint", noWarm.Message);
    }

    [Fact]
    public async Task Sigterm_during_the_warm_start_stops_it_with_130_and_leaves_no_run_behind()
    {
        var runDir = Path.Combine(_dir, "sigterm-warm");
        using var train = RoRecomp.Cli.Processes.NodeProcess.Start("train", ["train", "--run-dir", runDir, "--set", "warm-start.steps=100000", "--set", "run.steps=2"]);
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (DateTime.UtcNow < deadline && !train.HasExited && !train.Output.Contains("supervised warm start", StringComparison.Ordinal))
            await Task.Delay(50);
        Assert.False(train.HasExited, train.Tail());
        await Task.Delay(2000);   // inside the SFT loop
        train.Terminate();
        Assert.True(await train.WaitForExitAsync(TimeSpan.FromSeconds(60)), "the warm start kept training after SIGTERM:\n" + train.Tail());
        Assert.Equal(130, train.ExitCode);
        Assert.False(File.Exists(Path.Combine(runDir, RunFiles.RunConfigFile)), train.Tail());
    }

    [Fact]
    public async Task A_fresh_run_stopped_before_its_node_starts_removes_the_journal_it_created_at_sqlite_path_and_keeps_one_it_found()
    {
        var journals = Directory.CreateDirectory(Path.Combine(_dir, "journals")).FullName;
        var created = Path.Combine(journals, "created.db");
        await StopDuringWarmStart(Path.Combine(_dir, "sqlite-path-created"), created);
        Assert.False(File.Exists(created));
        Assert.False(File.Exists(ResponseBodyStore.BodiesFile(created)));

        var found = Path.Combine(journals, "found.db");
        File.WriteAllBytes(found, []);   // an empty file is an empty SQLite database
        await StopDuringWarmStart(Path.Combine(_dir, "sqlite-path-found"), found);
        Assert.True(File.Exists(found));

        // Stops the run inside its supervised warm start (after Prepare made the journal, before the node started).
        static async Task StopDuringWarmStart(string runDir, string journal)
        {
            using var stop = new CancellationTokenSource();
            // Task.Run: RunAsync trains the warm start synchronously, before its first await.
            var run = Task.Run(() => TrainRunner.RunAsync(new TrainOptions(new SettingsOverrides(null,
                [$"run.run-dir={runDir}", "warm-start.steps=100000", "run.steps=2", $"persistence.sqlite-path={journal}"])),
                TextWriter.Null, false, stop.Token));
            var deadline = DateTime.UtcNow.AddMinutes(2);
            while (DateTime.UtcNow < deadline && !run.IsCompleted && !File.Exists(Path.Combine(runDir, RunFiles.RunConfigFile)))
                await Task.Delay(20);
            Assert.True(File.Exists(journal), "the run did not reach its warm start with its journal made");
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
            Assert.False(File.Exists(Path.Combine(runDir, RunFiles.RunConfigFile)));
        }
    }

    [Fact]
    public async Task A_run_killed_with_sigkill_resumes_and_matches_the_uninterrupted_run()
    {
        const int steps = 30;
        string[] sets = ["checkpoint.every=3", "run.eval-every=0"];
        var reference = Path.Combine(_dir, "reference");
        await Train(reference, steps, false, sets);
        var expected = Metrics(reference);

        // The same run in a separate process, killed with SIGKILL a few steps past a committed checkpoint.
        var crashed = Path.Combine(_dir, "crashed");
        var cli = Path.Combine(AppContext.BaseDirectory, "rorecomp.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { cli, "train", "--steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        foreach (var s in PipelineFixture.Sets(crashed, _warm, sets))
        {
            psi.ArgumentList.Add("--set");
            psi.ArgumentList.Add(s);
        }
        using (var process = Process.Start(psi)!)
        {
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var metrics = Path.Combine(crashed, RunFiles.MetricsFile);
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (DateTime.UtcNow < deadline && !process.HasExited && (!File.Exists(metrics) || File.ReadAllLines(metrics).Length < 8))
                await Task.Delay(20);
            Assert.False(process.HasExited, $"the run ended (exit {(process.HasExited ? process.ExitCode : 0)}) before it could be killed");
            process.Kill(entireProcessTree: true);   // SIGKILL: no shutdown, no flush
            await process.WaitForExitAsync();
        }
        var atKill = Metrics(crashed);
        Assert.InRange(atKill.Count, 8, steps - 1);

        // What the journal holds right after the kill: the buffer recovers (its exact contents are checked at the end).
        var recovered = await BufferIds(crashed);
        Assert.NotEmpty(recovered);

        await Train(crashed, steps, resume: true, sets);
        var actual = Metrics(crashed);
        Assert.Equal(Enumerable.Range(1, steps).Select(i => (long)i), actual.Select(l => l["step"]!.GetValue<long>()));
        // The buffer was taken back to the checkpoint the run resumed from, so the steps that ran again report the sizes
        // they reported undisturbed.
        foreach (var key in new[] { "cursor", "policy_version", "accuracy", "mean_length", "priority_size", "compensation_size", "buffer_size", "loss" })
            Assert.Equal(expected.Select(l => l[key]!.ToJsonString()), actual.Select(l => l[key]!.ToJsonString()));
        Assert.Equal(await BufferIds(reference), await BufferIds(crashed));
    }

    /// <summary>The replay buffer's ids (oldest first) recovered from a run directory's journal.</summary>
    private static Task<string[]> BufferIds(string runDir) => ReplayBufferContents.ReadIdsAsync(runDir);
}
