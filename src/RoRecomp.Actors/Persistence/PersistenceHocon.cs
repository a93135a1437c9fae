using Akka.Configuration;
using Akka.Persistence.Sql;
using Microsoft.Data.Sqlite;
using RoRecomp.Core.IO;
using RoRecomp.Settings;

namespace RoRecomp.Actors.Persistence;

/// <summary>
/// Turns <see cref="PersistenceSettings"/> into the Akka.Persistence.Sql HOCON (journal and snapshot store), after
/// preparing the run directory: it is created, checked for writability and locked for this process (see
/// <see cref="RunDirectoryLock"/>), so a second process on the same SQLite journal fails at start with one clear error.
/// </summary>
public static class PersistenceHocon
{
    /// <summary>File name of the default SQLite journal inside the run directory.</summary>
    public const string DefaultSqliteFile = "journal.db";

    /// <summary>The linq2db provider names used for the two supported providers.</summary>
    public static string ProviderName(string provider) => provider switch
    {
        "sqlite" => "SQLite.MS",
        "postgresql" => "PostgreSQL.15",
        _ => throw new SettingsException($"rorecomp.persistence.provider = '{provider}' is not valid: expected one of sqlite | postgresql"),
    };

    /// <summary>The connection string the journal will use: the explicit one, or a SQLite file (default <c>&lt;run-dir&gt;/journal.db</c>).</summary>
    public static string ConnectionString(PersistenceSettings persistence, string runDir)
    {
        if (persistence.ConnectionString.Length > 0)
            return persistence.ConnectionString;
        if (persistence.Provider == "postgresql")
            throw new SettingsException("rorecomp.persistence.connection-string is empty: PostgreSQL needs one, e.g. \"Host=db;Database=rorecomp;Username=rl;Password=...\"");
        return $"Data Source={SqliteFile(persistence, runDir)};Pooling=true";
    }

    /// <summary>
    /// The SQLite file the journal is in when the settings name it (provider sqlite, no explicit connection string):
    /// <c>rorecomp.persistence.sqlite-path</c>, else <c>&lt;run-dir&gt;/journal.db</c>, as a full path; otherwise null.
    /// </summary>
    public static string? SqliteFile(PersistenceSettings persistence, string runDir) =>
        persistence.Provider != "sqlite" || persistence.ConnectionString.Length > 0
            ? null
            : Path.GetFullPath(persistence.SqlitePath.Length > 0 ? persistence.SqlitePath : Path.Combine(runDir, DefaultSqliteFile));

    /// <summary>
    /// How long the journal's and the snapshot store's circuit breakers stay open before they let a call through again.
    /// Akka.Persistence's defaults (journal 30 s after 10 failures, snapshot store 60 s after 5) keep failing every call
    /// fast for up to a minute after the database is back: a replay buffer whose recoveries failed while PostgreSQL was
    /// down (its backoff supervisor retries about once a second) opened the snapshot store's breaker within seconds,
    /// and every recovery then failed with "Circuit Breaker is open" for 60 s after the database was back, longer than
    /// its callers' bounded retries. The buffer's backoff supervisor already spaces the retries, so the breakers only
    /// need to stop a burst.
    /// </summary>
    public static readonly TimeSpan BreakerResetTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The HOCON that selects the SQL journal and snapshot store with auto-initialised tables, falling back to the
    /// plugin's defaults. Pure: does not touch the file system (see <see cref="Prepare"/>).
    /// <para>
    /// <c>prefer-parameters-on-multirow-insert</c>: a batch of journal events is one multi-row INSERT, and by default
    /// linq2db writes its payloads into the SQL text as hex literals; the replay buffer's events carry token arrays
    /// (hundreds of KB), so binding them as parameters took the journal from 28.3 to 37.1 MB/s and its CPU from 10.7 to
    /// 7.8 user-seconds (<c>bench buffer --tokens 8192 --responses 8192 --capacity 4096 --batch 64</c>, back to back,
    /// Release, beside a training run).
    /// </para>
    /// </summary>
    public static Config Build(PersistenceSettings persistence, string runDir)
    {
        var provider = ProviderName(persistence.Provider);
        var connection = Quote(ConnectionString(persistence, runDir));
        var reset = $"{(int)BreakerResetTimeout.TotalMilliseconds}ms";
        var hocon = $$"""
            akka.persistence {
              journal {
                plugin = "akka.persistence.journal.sql"
                sql {
                  connection-string = {{connection}}
                  provider-name = "{{provider}}"
                  auto-initialize = true
                  circuit-breaker.reset-timeout = {{reset}}
                  prefer-parameters-on-multirow-insert = true
                }
              }
              snapshot-store {
                plugin = "akka.persistence.snapshot-store.sql"
                sql {
                  connection-string = {{connection}}
                  provider-name = "{{provider}}"
                  auto-initialize = true
                  circuit-breaker.reset-timeout = {{reset}}
                }
              }
            }
            """;
        return ConfigurationFactory.ParseString(hocon).WithFallback(SqlPersistence.DefaultConfiguration);
    }

    /// <summary>
    /// Creates the run directory, checks it is writable, takes the run lock (held until disposed; keep it for the
    /// process lifetime), puts a SQLite journal in its journal mode (<see cref="SetSqliteJournalMode"/>: this creates the
    /// file, so checks that a journal exists come first) and returns the lock with the persistence HOCON. Throws <see cref="SettingsException"/> with the path
    /// and the fix when the directory cannot be written or another process holds the run.
    /// </summary>
    public static (Config Hocon, RunDirectoryLock Lock) Prepare(PersistenceSettings persistence, string runDir)
    {
        var hocon = Build(persistence, runDir);
        var runLock = RunDirectoryLock.Acquire(runDir);
        SetSqliteJournalMode(persistence, runDir);
        return (hocon, runLock);
    }

    /// <summary>
    /// Puts a SQLite journal file in <c>rorecomp.persistence.sqlite-journal-mode</c> (a mode the file keeps) before the
    /// journal plugin opens it; returns the mode it is in, or null when the file cannot be opened or is not a database
    /// (left to the journal's recovery, which names the file and what to do). WAL, the default, makes a commit one fsync
    /// of the log instead of the rollback journal's create, fsync, write, fsync and delete: the replay buffer's stores are
    /// one commit each, and <c>bench buffer --tokens 8192 --responses 12288 --capacity 4096 --batch 64</c> (back to back,
    /// beside a training run) made 58.7-60.4 MB/s durable with it vs 41.2-44.8 without. Synchronous stays FULL, so a
    /// commit is on disk when the write is acknowledged, as before.
    /// </summary>
    public static string? SetSqliteJournalMode(PersistenceSettings persistence, string runDir)
    {
        if (persistence.Provider != PersistenceSettings.Sqlite) return null;
        var builder = new SqliteConnectionStringBuilder(ConnectionString(persistence, runDir)) { Pooling = false };
        try
        {
            using var connection = new SqliteConnection(builder.ToString());
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"PRAGMA journal_mode = {persistence.SqliteJournalMode.ToUpperInvariant()}";
            return Convert.ToString(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (SqliteException)
        {
            return null;
        }
    }

    /// <summary>
    /// The persistence id of actor <paramref name="name"/> in this run: <c>name-runid</c>, where the run id is
    /// <c>rorecomp.persistence.run-id</c> (see <see cref="SettleRunId"/>) or the first 12 hex digits of the SHA-256 of the run directory's full path, so
    /// runs sharing one PostgreSQL journal never read each other's events, and a resumed run finds its own.
    /// </summary>
    public static string PersistenceId(string name, RoRecompSettings settings)
    {
        var id = settings.Persistence.RunId;
        if (id.Length == 0) id = DerivedRunId(settings.Run.RunDir);
        return $"{name}-{id}";
    }

    /// <summary>The file in a run directory holding the run id its persistence ids derive from (see <see cref="SettleRunId"/>).</summary>
    public const string RunIdFile = "run-id";

    /// <summary>
    /// Settles the run id when <c>rorecomp.persistence.run-id</c> is empty: the one saved in the run directory's
    /// <see cref="RunIdFile"/>, else, for a fresh run, the id derived from the directory's full path, saved there once so
    /// the run stays resumable after its directory is moved or copied. A run made before the file existed keeps the
    /// full-path derivation (it resumes only where it was made).
    /// </summary>
    /// <param name="settings">The run's settings.</param>
    /// <param name="runDir">The run directory (created, and locked by this process).</param>
    /// <param name="fresh">True when a new run starts here (not <c>--resume</c>).</param>
    public static RoRecompSettings SettleRunId(RoRecompSettings settings, string runDir, bool fresh)
    {
        if (settings.Persistence.RunId.Length > 0) return settings;
        var file = Path.Combine(runDir, RunIdFile);
        string id;
        if (File.Exists(file))
        {
            id = File.ReadAllText(file).Trim();
            if (id.Length == 0) throw new SettingsException($"{file} is empty: it should hold the run's id (or set rorecomp.persistence.run-id)");
        }
        else if (fresh)
        {
            id = DerivedRunId(runDir);
            DurableFile.WriteAllText(file, id + "\n");
        }
        else
        {
            return settings;
        }
        return settings with { Persistence = settings.Persistence with { RunId = id } };
    }

    /// <summary>Where the run's journal is, for messages: the SQLite file, or the PostgreSQL database.</summary>
    public static string JournalLocation(PersistenceSettings persistence, string runDir)
    {
        if (persistence.Provider == "postgresql") return "in PostgreSQL (rorecomp.persistence.connection-string)";
        return SqliteFile(persistence, runDir) ?? "at rorecomp.persistence.connection-string";
    }

    /// <summary>
    /// The message that ends a run whose journal cannot be read back (a persistent actor's recovery failed: a garbled
    /// or truncated <c>journal.db</c>, or the database unreachable): where the journal is and what to do.
    /// </summary>
    public static string CannotRead(RoRecompSettings settings, string actor, Exception cause)
    {
        var unreachable = JournalUnreadable.IsUnreachable(cause);
        return $"the journal {JournalLocation(settings.Persistence, settings.Run.RunDir)} cannot be {(unreachable ? "reached" : "read")} " +
            $"({actor} could not recover from it: {Innermost(cause)}" +
            (unreachable
                ? "; the database is down or refuses the connection). Nothing committed is lost: once the database is back, continue with --resume"
                : "). If it is damaged, restore a copy of it (with its -wal file, if any) and run again with --resume, or start a new run in another --run-dir");
    }

    /// <summary>
    /// The message that ends a run whose journal cannot be written (a persistent actor's write failed after its retries):
    /// where the journal is, the likely cause (a lost connection to the database when the driver says so, else a full
    /// disk), and that nothing durable is lost.
    /// </summary>
    public static string CannotWrite(RoRecompSettings settings, string actor, Exception cause) =>
        $"the journal {JournalLocation(settings.Persistence, settings.Run.RunDir)} cannot be written ({actor}: {Innermost(cause)}; " +
        (JournalUnreadable.IsUnreachable(cause)
            ? "the connection to the database was lost). Nothing committed is lost: once the database is back, continue with --resume"
            : "disk full?). Nothing committed is lost: free space (or bring the database back) and continue with --resume");

    private static string Innermost(Exception e)
    {
        while (e.InnerException is { } inner) e = inner;
        return e.Message;
    }

    private static string DerivedRunId(string runDir) =>
        Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Path.GetFullPath(runDir))))[..12].ToLowerInvariant();

    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
