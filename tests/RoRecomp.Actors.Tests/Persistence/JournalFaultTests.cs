using System.Text.Json.Nodes;
using Akka.Actor;
using Microsoft.Data.Sqlite;
using RoRecomp.Actors.Hosting;
using RoRecomp.Actors.Persistence;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Runners;
using RoRecomp.Actors.Tests.Pipeline;
using RoRecomp.Actors.Tests.ReplayBuffer;
using RoRecomp.Settings;
using RoRecomp.Training;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Steps;

namespace RoRecomp.Actors.Tests.Persistence;

/// <summary>
/// What the run does when its files or its journal fail (issue 14's "found as a new user"): a metrics line cut mid-write,
/// a corrupt newest checkpoint, a damaged journal.db, a journal that cannot be written. Each run ends with one clear
/// message within a bounded time, and a resume reproduces the undisturbed run, key for key (every key but timings).
/// </summary>
public sealed class JournalFaultTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(4);
    private static readonly string[] Timings = ["wall_s", "step_s", "train_s"];
    private static readonly string[] Sets = ["checkpoint.every=2", "run.eval-every=0"];

    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-journal-").FullName;
    private readonly string _warm;

    public JournalFaultTests() => _warm = PipelineFixture.WarmStart(Path.Combine(_dir, "warm"));

    public void Dispose() => TestDirs.Delete(_dir);

    private Task<RunSummary> Train(string runDir, int steps, bool resume = false, Func<IRunReporter, IRunReporter>? wrap = null, TextWriter? log = null,
        string[]? more = null) =>
        TrainRunner.RunAsync(
            new TrainOptions(new SettingsOverrides(null, PipelineFixture.Sets(runDir, _warm, [.. Sets, .. more ?? []])) { Steps = steps }, Resume: resume) { WrapReporter = wrap },
            log ?? TextWriter.Null, false, CancellationToken.None).WaitAsync(Bound);

    private static List<JsonObject> Metrics(string runDir) =>
        [.. File.ReadAllLines(Path.Combine(runDir, RunFiles.MetricsFile)).Select(l => JsonNode.Parse(l)!.AsObject())];

    /// <summary>Each line without its timings, as text: equal lines mean equal figures (accuracy, losses, sizes, cursor...).</summary>
    private static List<string> WithoutTimings(string runDir) =>
        [.. Metrics(runDir).Select(l => new JsonObject(l.Where(kv => !Timings.Contains(kv.Key)).Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.DeepClone()))).ToJsonString())];

    private async Task<(List<string> Lines, string[] Buffer)> Reference(int steps)
    {
        var reference = Path.Combine(_dir, "reference");
        if (!File.Exists(Path.Combine(reference, RunFiles.SummaryFile))) await Train(reference, steps);
        return (WithoutTimings(reference), await BufferIds(reference));
    }

    [Fact]
    public async Task A_metrics_line_cut_mid_write_is_written_again_on_resume_and_the_run_matches_the_undisturbed_one()
    {
        var (expected, expectedBuffer) = await Reference(8);
        var run = Path.Combine(_dir, "cut");
        // Step 6 (a checkpoint step) gets half its line written, then the write fails (disk full, or a kill mid-write).
        var failed = await Assert.ThrowsAsync<RunFailedException>(() => Train(run, 8, wrap: r => new CutLineAt(r, run, 6)));
        Assert.Contains("cannot write the run's files", failed.Message);
        Assert.Contains("--resume", failed.Message);
        var text = File.ReadAllText(Path.Combine(run, RunFiles.MetricsFile));
        Assert.False(text.EndsWith('\n'), "the last line should be cut");

        var log = new StringWriter();
        await Train(run, 8, resume: true, log: log);
        // Step 6's commit was never journaled (its line was not written): the run resumes from step 4 and writes 5..8.
        Assert.Contains("resuming from step 4", log.ToString());
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), Metrics(run).Select(l => l["step"]!.GetValue<long>()));
        Assert.Equal(expected, WithoutTimings(run));
        Assert.Equal(expectedBuffer, await BufferIds(run));
    }

    [Fact]
    public async Task After_falling_back_from_a_corrupt_newest_checkpoint_the_buffer_is_where_it_was_at_the_older_one()
    {
        var (expected, expectedBuffer) = await Reference(8);
        var run = Path.Combine(_dir, "fallback");
        await Train(run, 6);   // checkpoints at steps 2, 4, 6, all committed
        var newest = Path.Combine(RunContext.CheckpointDirectoryOf(run), "step-000006");
        Assert.True(Directory.Exists(newest));
        var model = Path.Combine(newest, "model.safetensors");
        var bytes = File.ReadAllBytes(model);
        bytes[bytes.Length / 2] ^= 0xFF;   // one flipped byte: the checksum no longer matches
        File.WriteAllBytes(model, bytes);

        var log = new StringWriter();
        await Train(run, 8, resume: true, log: log);
        Assert.Contains("checkpoint skipped", log.ToString());
        Assert.Contains("resuming from step 4", log.ToString());
        // Steps 5 and 6 ran again on the buffer as it was after step 4: the same sizes, draws and losses as undisturbed.
        Assert.Equal(expected, WithoutTimings(run));
        Assert.Equal(expectedBuffer, await BufferIds(run));
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("garbled")]
    public async Task A_damaged_journal_ends_the_resume_with_a_message_naming_it_instead_of_hanging(string damage)
    {
        var run = Path.Combine(_dir, damage);
        await Train(run, 4);
        SqliteConnection.ClearAllPools();
        var journal = Path.Combine(run, PersistenceHocon.DefaultSqliteFile);
        using (var c = new SqliteConnection($"Data Source={journal};Pooling=false"))
        {
            c.Open();
            using var checkpoint = c.CreateCommand();
            checkpoint.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
            checkpoint.ExecuteNonQuery();
        }
        foreach (var side in new[] { journal + "-wal", journal + "-shm" }) File.Delete(side);
        var length = new FileInfo(journal).Length;
        Assert.True(length >= 4 * 4096, $"the journal is only {length} bytes");
        if (damage == "truncated")
        {
            using var f = new FileStream(journal, FileMode.Open);
            f.SetLength(length / 3);
        }
        else
        {
            // Every page after the first (the header and schema) overwritten with garbage.
            using var f = new FileStream(journal, FileMode.Open);
            var garbage = new byte[length - 4096];
            new Random(7).NextBytes(garbage);
            f.Position = 4096;
            f.Write(garbage);
        }

        var started = DateTime.UtcNow;
        var failed = await Assert.ThrowsAsync<RunFailedException>(() => Train(run, 6, resume: true));
        Assert.Contains($"the journal {journal} cannot be read", failed.Message);
        Assert.Contains("restore a copy", failed.Message);
        Assert.Contains("another --run-dir", failed.Message);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromMinutes(2), $"took {DateTime.UtcNow - started}");
        Assert.Equal(4, Metrics(run).Count);   // nothing of the run was replaced
    }

    [Fact]
    public async Task A_journal_that_cannot_be_written_stops_the_run_after_bounded_retries_and_a_resume_after_space_is_freed_reproduces_it()
    {
        var (expected, expectedBuffer) = await Reference(8);
        var run = Path.Combine(_dir, "full");
        // The journal refuses every write from step 4 on, as a full disk does (SQLite's own error), until "space is freed".
        var fullAt = new FullJournalAt(Path.Combine(run, PersistenceHocon.DefaultSqliteFile), 3);
        var started = DateTime.UtcNow;
        var failed = await Assert.ThrowsAsync<RunFailedException>(() => Train(run, 8, wrap: r => new Observer(r, fullAt.StepReported)));
        var took = DateTime.UtcNow - started;
        Assert.True(fullAt.Armed, "the journal was never made to fail");
        Assert.Contains($"the journal {Path.Combine(run, PersistenceHocon.DefaultSqliteFile)} cannot be written", failed.Message);
        Assert.Contains("disk full?", failed.Message);
        Assert.Contains("continue with --resume", failed.Message);
        Assert.True(took < TimeSpan.FromMinutes(3), $"took {took}");

        fullAt.Free();
        await Train(run, 8, resume: true);
        Assert.Equal(expected, WithoutTimings(run));
        Assert.Equal(expectedBuffer, await BufferIds(run));
    }

    [RoRecomp.Actors.Tests.Chaos.ChaosFact(postgres: true)]
    public async Task A_database_restart_before_a_checkpoint_commit_restarts_the_learner_side_in_process_and_the_run_matches_the_undisturbed_one()
    {
        // Found by the 60-fault chaos run (seed 17): PostgreSQL restarted in immediate mode, the run coordinator's next
        // commit hit the broken connection, Akka.Persistence stopped it, and the learner process exited for an operator
        // to resume it. Now train starts the learner side again itself, from the last commit, as --resume would.
        var (expected, _) = await Reference(8);
        using var pg = RoRecomp.Cli.Chaos.PrivatePostgres.Start();
        var run = Path.Combine(_dir, "pg-restart");
        var restarted = 0;
        var written = new StringWriter();
        var log = TextWriter.Synchronized(written);
        // Step 4's line is written (effects first), then the database restarts before the coordinator journals the
        // commit of step 4's checkpoint: that write gets a pooled connection the server has cut.
        void RestartAt4(long step)
        {
            if (step == 4 && Interlocked.Exchange(ref restarted, 1) == 0) pg.RestartImmediate();
        }
        await Train(run, 8, wrap: r => new Observer(r, RestartAt4), log: log,
            more: ["persistence.provider=postgresql", $"persistence.connection-string=\"{pg.ConnectionString}\""]);

        var text = written.ToString();
        Assert.Equal(1, restarted);
        Assert.Contains("the connection to the database was lost", text);
        Assert.Contains("restarting the learner side from its last commit", text);
        Assert.Contains("resuming from step", text);
        Assert.Equal(expected, WithoutTimings(run));
    }

    /// <summary>The replay buffer's ids (oldest first) recovered from a run directory's journal.</summary>
    private static async Task<string[]> BufferIds(string runDir)
    {
        var settings = SettingsLoader.Load(null, [$"run.run-dir={runDir}"]);
        settings = PersistenceHocon.SettleRunId(settings, runDir, fresh: false);
        using var system = ActorSystem.Create("inspect", ReplayBufferActorTests.SystemConfig(runDir));
        var options = SettingsMapping.ReplayBuffer(settings) with { RewindSteps = 100 };
        var buffer = system.ActorOf(ReplayBufferActor.Props(PersistenceHocon.PersistenceId(RoRecompHostingExtensions.ReplayBufferName, settings), options, 1000,
            bodies: ResponseBodyStore.ForRun(settings)));
        var stats = await buffer.Ask<BufferStats>(GetBufferStats.Instance, TimeSpan.FromSeconds(30));
        await system.Terminate();
        SqliteConnection.ClearAllPools();
        return [.. stats.Ids];
    }

    /// <summary>Passes everything on; tells <paramref name="stepReported"/> after each step's line is written.</summary>
    private class Observer(IRunReporter inner, Action<long>? stepReported = null) : IRunReporter
    {
        public void Started(RunStart start) => inner.Started(start);

        public void Baseline(HeldOutEvaluation evaluation) => inner.Baseline(evaluation);

        public virtual void StepCompleted(StepRecord record)
        {
            inner.StepCompleted(record);
            stepReported?.Invoke(record.Online.Step);
        }

        public void Notice(string message) => inner.Notice(message);

        public void Finished() => inner.Finished();

        public void Failed(string reason) => inner.Failed(reason);

        public void Interrupted(string reason) => inner.Interrupted(reason);
    }

    /// <summary>Writes half of step <paramref name="step"/>'s line, then fails as a full disk does.</summary>
    private sealed class CutLineAt(IRunReporter inner, string runDir, long step) : Observer(inner)
    {
        public override void StepCompleted(StepRecord record)
        {
            if (record.Online.Step != step)
            {
                base.StepCompleted(record);
                return;
            }
            var line = RunFiles.Format(MetricsLine.From(record, 1, runDir));
            File.AppendAllText(Path.Combine(runDir, RunFiles.MetricsFile), line[..(line.Length / 2)]);
            throw new IOException("No space left on device");
        }
    }

    /// <summary>
    /// Makes the run's SQLite journal refuse every write once step <paramref name="afterStep"/> is reported (a trigger
    /// that raises SQLITE_FULL, the error a full disk gives), until <see cref="Free"/> drops it.
    /// </summary>
    private sealed class FullJournalAt(string journal, long afterStep)
    {
        public bool Armed { get; private set; }

        public void StepReported(long step)
        {
            if (step != afterStep || Armed) return;
            using var c = new SqliteConnection($"Data Source={journal};Pooling=false;Default Timeout=60");
            c.Open();
            foreach (var table in new[] { "journal", "snapshot" })
            {
                using var cmd = c.CreateCommand();
                cmd.CommandText = $"CREATE TRIGGER full_{table} BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;";
                cmd.ExecuteNonQuery();
            }
            Armed = true;
        }

        public void Free()
        {
            using var c = new SqliteConnection($"Data Source={journal};Pooling=false;Default Timeout=60");
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "DROP TRIGGER full_journal; DROP TRIGGER full_snapshot;";
            cmd.ExecuteNonQuery();
        }
    }
}
