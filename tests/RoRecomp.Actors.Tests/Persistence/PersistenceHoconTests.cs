using RoRecomp.Settings;
using RoRecomp.Actors.Persistence;
using RoRecomp.Training.Runs;

namespace RoRecomp.Actors.Tests.Persistence;

public sealed class PersistenceHoconTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-pers-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Sqlite_defaults_to_journal_db_in_the_run_dir()
    {
        var runDir = Path.Combine(_dir, "run");
        var config = PersistenceHocon.Build(new PersistenceSettings("sqlite", "", ""), runDir);
        Assert.Equal("akka.persistence.journal.sql", config.GetString("akka.persistence.journal.plugin"));
        Assert.Equal("akka.persistence.snapshot-store.sql", config.GetString("akka.persistence.snapshot-store.plugin"));
        Assert.Equal("SQLite.MS", config.GetString("akka.persistence.journal.sql.provider-name"));
        Assert.Contains(Path.Combine(runDir, "journal.db"), config.GetString("akka.persistence.journal.sql.connection-string"));
        Assert.True(config.GetBoolean("akka.persistence.snapshot-store.sql.auto-initialize"));
        // Fallback to the plugin's defaults is present.
        Assert.Equal("Akka.Persistence.Sql.Journal.SqlWriteJournal, Akka.Persistence.Sql", config.GetString("akka.persistence.journal.sql.class"));
    }

    [Theory]
    [InlineData(null, "wal")]
    [InlineData("delete", "delete")]
    public void Preparing_a_run_puts_its_sqlite_journal_in_the_configured_mode(string? mode, string expected)
    {
        var runDir = Path.Combine(_dir, "mode");
        var settings = SettingsLoader.Load(null, mode is null ? [] : [$"persistence.sqlite-journal-mode={mode}"]).Persistence;
        var (_, runLock) = PersistenceHocon.Prepare(settings, runDir);
        runLock.Dispose();
        using var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(runDir, "journal.db")};Pooling=false");
        c.Open();
        using var command = c.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal(expected, command.ExecuteScalar());
        command.CommandText = "PRAGMA synchronous"; // what the journal plugin's connections (the same library) commit with
        Assert.Equal(2L, command.ExecuteScalar()); // FULL: a commit is on disk when it returns, in either mode
    }

    [Fact]
    public void A_journal_file_that_is_not_a_database_is_left_to_the_journal_to_report()
    {
        var runDir = Directory.CreateDirectory(Path.Combine(_dir, "garbage")).FullName;
        File.WriteAllBytes(Path.Combine(runDir, "journal.db"), [.. Enumerable.Repeat((byte)0x5a, 8192)]);
        Assert.Null(PersistenceHocon.SetSqliteJournalMode(new PersistenceSettings("sqlite", "", ""), runDir));
        Assert.Null(PersistenceHocon.SetSqliteJournalMode(OnPostgres().Persistence, runDir)); // not SQLite: nothing to set
    }

    [Fact]
    public void An_unknown_sqlite_journal_mode_is_refused_naming_the_key()
    {
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, ["persistence.sqlite-journal-mode=memory"]));
        Assert.Contains("persistence.sqlite-journal-mode", e.Message);
    }

    /// <summary>Settings of a run journaled to PostgreSQL (the host is never contacted).</summary>
    private RoRecompSettings OnPostgres() =>
        SettingsLoader.Load(null, [$"run.run-dir={_dir}", "persistence.provider=postgresql", "persistence.connection-string=Host=db;Database=r"]);

    /// <summary>A journal failure caused by a socket error, as the database driver wraps it.</summary>
    private static InvalidOperationException Socket(string message, System.Net.Sockets.SocketError error) =>
        new(message, new System.Net.Sockets.SocketException((int)error));

    [Fact]
    public void A_write_that_failed_because_the_database_went_away_names_the_lost_connection_not_a_full_disk()
    {
        // Found by the 60-fault chaos run (seed 17): a PostgreSQL restart broke the run coordinator's write in flight and
        // the run ended with "...; disk full?", sending the operator to the wrong place.
        var settings = OnPostgres();
        var lost = PersistenceHocon.CannotWrite(settings, "run-coordinator", Socket("write failed", System.Net.Sockets.SocketError.ConnectionReset));
        Assert.Contains("the connection to the database was lost", lost);
        Assert.Contains("continue with --resume", lost);
        Assert.DoesNotContain("disk full", lost);

        var full = PersistenceHocon.CannotWrite(settings, "run-coordinator", new IOException("database or disk is full"));
        Assert.Contains("disk full?", full);
        Assert.DoesNotContain("connection to the database was lost", full);
    }

    [Fact]
    public void A_journal_that_cannot_be_reached_is_not_called_damaged()
    {
        // A learner side restarted while PostgreSQL is still down fails its recovery by a refused connection: the message
        // must not send the operator to restore a copy of an intact database.
        var settings = OnPostgres();
        var refused = PersistenceHocon.CannotRead(settings, "run-coordinator", Socket("recovery failed", System.Net.Sockets.SocketError.ConnectionRefused));
        Assert.Contains("cannot be reached", refused);
        Assert.Contains("continue with --resume", refused);
        Assert.DoesNotContain("restore a copy", refused);

        var damaged = PersistenceHocon.CannotRead(settings, "run-coordinator", new InvalidDataException("database disk image is malformed"));
        Assert.Contains("cannot be read", damaged);
        Assert.Contains("restore a copy", damaged);
    }

    [Fact]
    public void The_journal_and_snapshot_breakers_close_within_seconds_of_the_database_coming_back()
    {
        // Akka.Persistence's defaults fail every call fast for 30 s (journal) and 60 s (snapshot store) after a burst of
        // failures: a buffer recovering once a second during an outage would stay down that long after the database
        // is back (see PostgresPersistenceTests' db-down test, which checks the behaviour).
        var config = PersistenceHocon.Build(new PersistenceSettings("postgresql", "Host=db;Database=r", ""), _dir);
        foreach (var plugin in new[] { "akka.persistence.journal.sql", "akka.persistence.snapshot-store.sql" })
        {
            Assert.Equal(PersistenceHocon.BreakerResetTimeout, config.GetTimeSpan($"{plugin}.circuit-breaker.reset-timeout"));
            Assert.True(PersistenceHocon.BreakerResetTimeout <= TimeSpan.FromSeconds(5));
        }
    }

    [Fact]
    public void Journal_batches_bind_their_payloads_as_parameters_instead_of_hex_literals()
    {
        // Found by profiling `bench buffer --tokens 8192`: a batch of events went to SQLite as one multi-row INSERT whose
        // payloads linq2db wrote into the SQL text as hex literals (2 characters a byte, then parsed back by SQLite).
        foreach (var provider in new[] { "sqlite", "postgresql" })
        {
            var config = PersistenceHocon.Build(new PersistenceSettings(provider, provider == "sqlite" ? "" : "Host=db;Database=r", ""), _dir);
            Assert.True(config.GetBoolean("akka.persistence.journal.sql.prefer-parameters-on-multirow-insert"));
        }
    }

    [Fact]
    public void Postgresql_requires_a_connection_string()
    {
        var e = Assert.Throws<SettingsException>(() => PersistenceHocon.Build(new PersistenceSettings("postgresql", "", ""), _dir));
        Assert.Contains("rorecomp.persistence.connection-string", e.Message);
        var ok = PersistenceHocon.Build(new PersistenceSettings("postgresql", "Host=db;Database=r", ""), _dir);
        Assert.Equal("PostgreSQL.15", ok.GetString("akka.persistence.journal.sql.provider-name"));
        Assert.Equal("Host=db;Database=r", ok.GetString("akka.persistence.journal.sql.connection-string"));
    }

    [Fact]
    public void Second_lock_on_the_same_run_dir_fails_until_the_first_is_released()
    {
        var runDir = Path.Combine(_dir, "run");
        using (var first = RunDirectoryLock.Acquire(runDir))
        {
            Assert.True(Directory.Exists(runDir));
            var e = Assert.Throws<SettingsException>(() => RunDirectoryLock.Acquire(runDir));
            Assert.Contains("in use by another process", e.Message);
            Assert.Contains(Path.GetFullPath(runDir), e.Message);
        }
        using var again = RunDirectoryLock.Acquire(runDir);
    }

    [Fact]
    public void Unwritable_run_dir_is_one_clear_error()
    {
        var file = Path.Combine(_dir, "a-file");
        File.WriteAllText(file, "x");
        var e = Assert.Throws<SettingsException>(() => RunDirectoryLock.Acquire(Path.Combine(file, "run")));
        Assert.Contains("is not writable", e.Message);
        Assert.Contains("rorecomp.run.run-dir", e.Message);
    }

    [Fact]
    public void Persistence_ids_are_per_run_so_runs_can_share_a_journal()
    {
        var a = SettingsLoader.Load(null, ["run.run-dir=/data/runs/a"]);
        var b = SettingsLoader.Load(null, ["run.run-dir=/data/runs/b"]);
        var named = SettingsLoader.Load(null, ["run.run-dir=/data/runs/b", "persistence.run-id=exp7"]);
        Assert.Equal(PersistenceHocon.PersistenceId("replay-buffer", a), PersistenceHocon.PersistenceId("replay-buffer", a));
        Assert.NotEqual(PersistenceHocon.PersistenceId("replay-buffer", a), PersistenceHocon.PersistenceId("replay-buffer", b));
        Assert.Equal("replay-buffer-exp7", PersistenceHocon.PersistenceId("replay-buffer", named));
        Assert.Matches("^run-coordinator-[0-9a-f]{12}$", PersistenceHocon.PersistenceId("run-coordinator", a));
    }
}
