using System.Collections.Immutable;
using System.Data.Common;
using System.Diagnostics;
using Akka.Actor;
using Microsoft.Data.Sqlite;
using Npgsql;
using RoRecomp.Actors.Persistence;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Serialization;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;
using RoRecomp.Settings;
using RoRecomp.Training.Runs;

namespace RoRecomp.Actors.Bench;

/// <summary>What <see cref="ReplayBufferBenchmark.Run"/> measures.</summary>
/// <param name="Responses">Responses passed through the buffer (each journaled once).</param>
/// <param name="BatchSize">Responses per <see cref="StoreResponses"/> (one journal event each).</param>
/// <param name="Tokens">Response length: token ids and log-probs per response (the prompt is 256 tokens).</param>
/// <param name="Capacity">Buffer capacity: older responses are evicted past it, so this many are held at the end.</param>
/// <param name="SnapshotEvery">Events between snapshots (rorecomp.buffer.snapshot-every); responses stored between snapshots are at most the capacity.</param>
/// <param name="Journal">sqlite | postgresql.</param>
/// <param name="ConnectionString">PostgreSQL connection string (ignored for SQLite, which uses a file in the run directory).</param>
/// <param name="InFlight">Store requests outstanding at once (as several samplers' groups arrive together).</param>
/// <param name="ResponseBodies">table | journal: where the responses' token arrays are kept (rorecomp.buffer.response-bodies).</param>
public sealed record ReplayBufferBenchOptions(
    int Responses = 100_000, int BatchSize = 256, int Tokens = 64, int Capacity = 4096, int SnapshotEvery = 1000,
    string Journal = "sqlite", string ConnectionString = "", int InFlight = 4, string ResponseBodies = BufferSettings.Table);

/// <summary>Measured figures of <see cref="ReplayBufferBenchmark.Run"/>.</summary>
/// <param name="Options">What ran.</param>
/// <param name="StoreSeconds">Wall time from the first store to the last ack (snapshots and deletes run meanwhile).</param>
/// <param name="ResponsesPerSecond">Responses journaled per second.</param>
/// <param name="JournaledBytes">
/// Serialized bytes of the responses made durable, as <see cref="ResponsesStored"/> events (the same figure whether the
/// arrays go into the events or the body store, so the two are compared on the same work).
/// </param>
/// <param name="JournalMbPerSecond">JournaledBytes / StoreSeconds / 1e6 (target >= 100 on SQLite).</param>
/// <param name="HeldBytes">Serialized bytes of the responses held at the end.</param>
/// <param name="JournalBytes">What the journal, snapshot store and body store keep for this buffer at the end: event, snapshot and body payload bytes.</param>
/// <param name="DatabaseBytes">The storage used: the SQLite files (with their free pages: the high-water mark) or PostgreSQL's journal, snapshot and body tables with indexes and TOAST (other runs in the same database included).</param>
/// <param name="RecoverySeconds">Wall time for a fresh actor system to recover the buffer and answer.</param>
/// <param name="Recovered">Responses held after recovery (must equal min(responses, capacity)).</param>
public sealed record ReplayBufferBenchmarkResult(
    ReplayBufferBenchOptions Options, double StoreSeconds, double ResponsesPerSecond, long JournaledBytes, double JournalMbPerSecond,
    long HeldBytes, long JournalBytes, long DatabaseBytes, double RecoverySeconds, int Recovered)
{
    /// <summary>JournalBytes / HeldBytes (target &lt;= 2 after 1,000,000 responses).</summary>
    public double JournalBytesRatio => HeldBytes == 0 ? 0 : (double)JournalBytes / HeldBytes;

    /// <summary>DatabaseBytes / HeldBytes.</summary>
    public double DatabaseBytesRatio => HeldBytes == 0 ? 0 : (double)DatabaseBytes / HeldBytes;
}

/// <summary>
/// Replay buffer benchmark: streams responses of realistic size (256 prompt tokens, <c>tokens</c> response token ids
/// with their log-probs) through <see cref="ReplayBufferActor"/> journaled in SQLite or PostgreSQL, with the buffer's
/// compaction (snapshot, delete events and older snapshots) running as in training; then measures what the journal
/// keeps and recovers the full buffer in a new actor system.
/// </summary>
public static class ReplayBufferBenchmark
{
    private const int PromptTokens = 256;
    private const int DistinctBodies = 16;

    /// <summary>Runs the benchmark in <paramref name="runDir"/> (created; must not hold a previous journal).</summary>
    public static async Task<ReplayBufferBenchmarkResult> Run(string runDir, ReplayBufferBenchOptions o, Action<string>? progress = null)
    {
        var persistence = new PersistenceSettings(o.Journal, o.Journal == "postgresql" ? o.ConnectionString : "", "");
        var (hocon, runLock) = PersistenceHocon.Prepare(persistence, runDir);
        using var held = runLock;
        var config = hocon
            .WithFallback(SerializationHocon.Config)
            .WithFallback("akka.loglevel = WARNING");
        var options = new ReplayBufferOptions(Capacity: o.Capacity, MaxStaleness: long.MaxValue);
        var persistenceId = $"bench-buffer-{Guid.NewGuid():N}";
        var bodies = Bodies(o.Tokens);
        var bodyStore = o.ResponseBodies == BufferSettings.Table ? ResponseBodyStore.For(persistence, runDir) : null;

        double storeSeconds;
        long journaledBytes = 0, responseBytes;
        var first = ActorSystem.Create("bench-store", config);
        try
        {
            var serializer = first.Serialization.FindSerializerForType(typeof(ResponsesStored));
            responseBytes = serializer.ToBinary(MakeResponse(0, bodies)).Length;
            var buffer = first.ActorOf(ReplayBufferActor.Props(persistenceId, options, o.SnapshotEvery, bodies: bodyStore));
            await buffer.Ask<BufferStats>(GetBufferStats.Instance, TimeSpan.FromMinutes(1)); // journal initialised
            var batchBytes = new Dictionary<int, long>();
            var inFlight = new Queue<Task<ResponsesAccepted>>();
            var sw = Stopwatch.StartNew();
            var nextReport = 10.0;
            for (var start = 0; start < o.Responses; start += o.BatchSize)
            {
                var n = Math.Min(o.BatchSize, o.Responses - start);
                var batch = new StoreResponses([.. Enumerable.Range(start, n).Select(i => MakeResponse(i, bodies))]);
                if (!batchBytes.TryGetValue(n, out var bytes))
                    batchBytes[n] = bytes = serializer.ToBinary(new ResponsesStored(batch.Responses)).Length; // once per size: same shape
                journaledBytes += bytes;
                if (inFlight.Count >= o.InFlight) await inFlight.Dequeue();
                inFlight.Enqueue(buffer.Ask<ResponsesAccepted>(batch, TimeSpan.FromMinutes(10)));
                if (sw.Elapsed.TotalSeconds >= nextReport)
                {
                    progress?.Invoke($"{start + n:N0} responses, {journaledBytes / 1e6 / sw.Elapsed.TotalSeconds:N1} MB/s");
                    nextReport += 10;
                }
            }
            await Task.WhenAll(inFlight);
            storeSeconds = sw.Elapsed.TotalSeconds;
            await AwaitCompacted(buffer);
        }
        finally
        {
            await first.Terminate();
        }
        var (journalBytes, databaseBytes) = Sizes(o, runDir, persistenceId, bodyStore);

        double recoverySeconds;
        int recovered;
        var second = ActorSystem.Create("bench-recover", config);
        try
        {
            var sw = Stopwatch.StartNew();
            var buffer = second.ActorOf(ReplayBufferActor.Props(persistenceId, options, o.SnapshotEvery, bodies: bodyStore));
            var stats = await buffer.Ask<BufferStats>(GetBufferStats.CountOnly, TimeSpan.FromMinutes(10));
            recoverySeconds = sw.Elapsed.TotalSeconds;
            recovered = stats.Count;
        }
        finally
        {
            await second.Terminate();
        }
        if (o.Journal == "postgresql")
        {
            Execute(o, runDir, persistenceId, "DELETE FROM journal WHERE persistence_id = @id; DELETE FROM snapshot WHERE persistence_id = @id");
            bodyStore?.DeleteAll(persistenceId);
        }

        return new ReplayBufferBenchmarkResult(
            o, storeSeconds, o.Responses / storeSeconds, journaledBytes, journaledBytes / 1e6 / storeSeconds,
            HeldBytes: (long)Math.Min(o.Responses, o.Capacity) * responseBytes, journalBytes, databaseBytes, recoverySeconds, recovered);
    }

    // The compaction cycles run behind the stores (a snapshot write at a time): measure once they have caught up (or
    // after five minutes, measuring what is there then).
    private static async Task AwaitCompacted(IActorRef buffer)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while (DateTime.UtcNow < deadline && (await buffer.Ask<BufferStats>(GetBufferStats.CountOnly, TimeSpan.FromMinutes(1))).Compacting)
            await Task.Delay(200);
    }

    private static (long Journal, long Database) Sizes(ReplayBufferBenchOptions o, string runDir, string persistenceId, ResponseBodyStore? bodyStore)
    {
        var payload =
            Query(o, runDir, persistenceId, "SELECT COALESCE(SUM(LENGTH(message)), 0) FROM journal WHERE persistence_id = @id")
            + Query(o, runDir, persistenceId, "SELECT COALESCE(SUM(LENGTH(snapshot)), 0) FROM snapshot WHERE persistence_id = @id")
            + (bodyStore?.Size(persistenceId).Bytes ?? 0);
        long database;
        if (o.Journal == "postgresql")
        {
            database = Query(o, runDir, persistenceId, "SELECT pg_total_relation_size('journal') + pg_total_relation_size('snapshot')")
                + (bodyStore is null ? 0 : Query(o, runDir, persistenceId, $"SELECT pg_total_relation_size('{ResponseBodyStore.Table}')"));
        }
        else
        {
            var file = Path.Combine(runDir, PersistenceHocon.DefaultSqliteFile);
            var bodiesFile = ResponseBodyStore.BodiesFile(file);
            database = new[] { file, file + "-wal", bodiesFile, bodiesFile + "-wal", bodiesFile + "-journal" }.Where(File.Exists).Sum(f => new FileInfo(f).Length);
        }
        return (payload, database);
    }

    private static long Query(ReplayBufferBenchOptions o, string runDir, string persistenceId, string sql)
    {
        using var connection = Open(o, runDir);
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        var p = command.CreateParameter();
        p.ParameterName = "@id";
        p.Value = persistenceId;
        command.Parameters.Add(p);
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static void Execute(ReplayBufferBenchOptions o, string runDir, string persistenceId, string sql)
    {
        using var connection = Open(o, runDir);
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        var p = command.CreateParameter();
        p.ParameterName = "@id";
        p.Value = persistenceId;
        command.Parameters.Add(p);
        command.ExecuteNonQuery();
    }

    private static DbConnection Open(ReplayBufferBenchOptions o, string runDir)
    {
        DbConnection connection = o.Journal == "postgresql"
            ? new NpgsqlConnection(o.ConnectionString)
            : new SqliteConnection($"Data Source={Path.Combine(runDir, PersistenceHocon.DefaultSqliteFile)};Pooling=false");
        connection.Open();
        return connection;
    }

    private sealed record Body(ImmutableArray<int> Prompt, ImmutableArray<int> Tokens, ImmutableArray<float> LogProbs);

    // A few distinct random bodies, shared by the responses (ids differ), so a million responses need no million arrays
    // in memory; every response is still serialized and written in full.
    private static Body[] Bodies(int tokens)
    {
        var rng = new Random(7);
        return [.. Enumerable.Range(0, DistinctBodies).Select(_ => new Body(
            [.. Enumerable.Range(0, PromptTokens).Select(_ => rng.Next(150_000))],
            [.. Enumerable.Range(0, tokens).Select(_ => rng.Next(150_000))],
            [.. Enumerable.Range(0, tokens).Select(_ => -(float)rng.NextDouble() * 5)]))];
    }

    private static Response MakeResponse(int i, Body[] bodies)
    {
        var body = bodies[i % bodies.Length];
        return new(
            Id: $"lease-{i / 16}/{i % 16}",
            PromptId: $"train-{i / 16:D7}",
            SampleIndex: i % 16,
            Step: i / 1024,
            PolicyVersion: i / 1024,
            PromptTokens: body.Prompt,
            Tokens: body.Tokens,
            LogProbs: body.LogProbs,
            Reward: i % 3 == 0 ? 1 : 0,
            Correct: i % 3 == 0);
    }
}
