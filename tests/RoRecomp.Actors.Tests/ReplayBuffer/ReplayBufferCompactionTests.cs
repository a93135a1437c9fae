using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Microsoft.Data.Sqlite;
using RoRecomp.Actors.Persistence;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Tests.Serialization;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Actors.Tests.ReplayBuffer;

/// <summary>
/// The replay buffer's journal compaction (snapshot, delete events up to it, delete older snapshots): the journal stays
/// bounded, and a process dying at any point of the cycle recovers exactly the state it had (nothing lost, nothing twice).
/// </summary>
public sealed class ReplayBufferCompactionTests : IDisposable
{
    private static readonly ReplayBufferOptions Options = new(Capacity: 12, MaxStaleness: 100);
    private const int SnapshotEvery = 1000; // only the stored-responses trigger fires
    private const int SnapshotAfterStored = 6;
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-rbc-").FullName;

    public void Dispose() => TestDirs.Delete(_dir);

    internal static ImmutableArray<Response> Batch(string prefix, int n) =>
        [.. Enumerable.Range(0, n).Select(i => RoRecompSerializerTests.MakeResponse($"{prefix}/{i}", version: 5, length: 64))];

    private Config Sql => ReplayBufferActorTests.SystemConfig(_dir).WithFallback("akka.loglevel = WARNING");

    private static IActorRef Buffer(ActorSystem system, string id) =>
        system.ActorOf(ReplayBufferActor.Props(id, Options, SnapshotEvery, SnapshotAfterStored));

    private static async Task<T> Ask<T>(IActorRef buffer, object message) => await buffer.Ask<T>(message, TimeSpan.FromSeconds(30));

    /// <summary>What recovery must reproduce: held ids in order, the journal position, and the answer to a re-run draw.</summary>
    private sealed record Observed(string[] Ids, long LastSequenceNr, string[] Draw1);

    private static async Task<Observed> Observe(IActorRef buffer)
    {
        var stats = await Ask<BufferStats>(buffer, GetBufferStats.Instance);
        var draw = await Ask<CompensationDrawn>(buffer, new DrawCompensationBatch(4, CurrentPolicyVersion: 5, Step: 1));
        return new Observed([.. stats.Ids], stats.LastSequenceNr, [.. draw.Responses.Select(r => r.Id)]);
    }

    [Theory]
    [InlineData(CrashPoint.DuringSnapshotSave)]
    [InlineData(CrashPoint.AfterSnapshotSave)]
    [InlineData(CrashPoint.MidEventDelete)]
    [InlineData(CrashPoint.AfterEventDelete)]
    public async Task A_crash_anywhere_in_the_cycle_recovers_the_same_buffer(CrashPoint point)
    {
        var id = $"rb-{point}";
        var crashId = $"{Guid.NewGuid():N}";
        Observed before;
        var first = ActorSystem.Create("crashing", CrashingSqlPlugins.Config(point, crashId).WithFallback(Sql));
        try
        {
            var rb = Buffer(first, id);
            // A full cycle first (with the crash plugins stopping only at the chosen point, the first cycle is the one that
            // stops), then more events on top while the cycle hangs, as a busy buffer would have.
            for (var i = 0; i < 2; i++) await Ask<ResponsesAccepted>(rb, new StoreResponses(Batch($"s{i}", 3)));
            var snapshotSeq = await CrashingSqlPlugins.Reached(crashId).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(2, snapshotSeq);
            for (var i = 2; i < 7; i++) await Ask<ResponsesAccepted>(rb, new StoreResponses(Batch($"s{i}", 3)));
            await Ask<CompensationDrawn>(rb, new DrawCompensationBatch(4, CurrentPolicyVersion: 5, Step: 1));
            await Ask<ResponsesAccepted>(rb, new StoreResponses(Batch("s7", 3)));
            before = await Observe(rb);
        }
        finally
        {
            await first.Terminate(); // the cycle never finishes: the database is as a killed process left it
        }

        var second = ActorSystem.Create("recovered", Sql);
        try
        {
            var rb = Buffer(second, id);
            var after = await Observe(rb);
            Assert.Equal(before.Ids, after.Ids);
            Assert.Equal(before.LastSequenceNr, after.LastSequenceNr);
            Assert.Equal(before.Draw1, after.Draw1);
            Assert.Equal(11, after.Ids.Length); // 24 stored, 12 kept by capacity, 4 drawn, 3 more stored

            // Nothing twice: every response ever stored (held, drawn or evicted) is still known, so a retry stores none.
            for (var i = 0; i < 8; i++)
                Assert.Equal(new ResponsesAccepted(0, 3, 0), await Ask<ResponsesAccepted>(rb, new StoreResponses(Batch($"s{i}", 3))));

            // The next cycle completes what the crashed one left: the journal is compacted to the newest snapshot.
            for (var i = 8; i < 10; i++) await Ask<ResponsesAccepted>(rb, new StoreResponses(Batch($"s{i}", 3)));
            var last = (await Ask<BufferStats>(rb, GetBufferStats.CountOnly)).LastSequenceNr;
            await AwaitCompacted(id, last);
        }
        finally
        {
            await second.Terminate();
        }
    }

    [Fact]
    public async Task The_journal_holds_one_snapshot_and_the_events_since_it_however_many_responses_passed()
    {
        var system = ActorSystem.Create("compacting", Sql);
        try
        {
            var rb = Buffer(system, "rb-bounded");
            for (var i = 0; i < 40; i++) await Ask<ResponsesAccepted>(rb, new StoreResponses(Batch($"b{i}", 3)));
            var stats = await Ask<BufferStats>(rb, GetBufferStats.Instance);
            Assert.Equal(12, stats.Count);
            // 40 stores, each with a capacity eviction once full: 76 events journaled. Once the cycles catch up, the events
            // since the snapshot (fewer than 6 stored responses: one store, 2 events) and the kept sequence marker remain.
            Assert.Equal(76, stats.LastSequenceNr);
            await AwaitCompacted("rb-bounded", stats.LastSequenceNr);
            var (events, snapshots) = Rows("rb-bounded");
            Assert.True(events <= 3, $"{events} journal rows left");
            Assert.Equal(1, snapshots);
            Assert.Equal([.. Enumerable.Range(36, 4).SelectMany(i => Enumerable.Range(0, 3).Select(j => $"b{i}/{j}"))], stats.Ids.ToArray());
        }
        finally
        {
            await system.Terminate();
        }

        var again = ActorSystem.Create("again", Sql);
        try
        {
            var stats = await Ask<BufferStats>(Buffer(again, "rb-bounded"), GetBufferStats.Instance);
            Assert.Equal(12, stats.Count);
            Assert.Equal("b36/0", stats.Ids[0]);
        }
        finally
        {
            await again.Terminate();
        }
    }

    /// <summary>
    /// Waits until the cycles have caught up with the last store (they run behind it, a snapshot write at a time): one
    /// snapshot left, at most one store (2 events) behind the journal's end, and no journal row older than it except the
    /// newest deleted one (the SQL journal's sequence marker).
    /// </summary>
    private async Task AwaitCompacted(string persistenceId, long lastSequenceNr)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var (events, snapshots) = Rows(persistenceId);
            var behind = lastSequenceNr - SnapshotSeq(persistenceId);
            if (snapshots == 1 && behind <= 2 && events <= behind + 1) return;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"not compacted: {events} journal rows, {snapshots} snapshots, last sequence nr {lastSequenceNr}");
            await Task.Delay(100);
        }
    }

    private (long Events, long Snapshots) Rows(string persistenceId) =>
        (Scalar("SELECT COUNT(*) FROM journal WHERE persistence_id = $id", persistenceId),
         Scalar("SELECT COUNT(*) FROM snapshot WHERE persistence_id = $id", persistenceId));

    private long SnapshotSeq(string persistenceId) => Scalar("SELECT COALESCE(MAX(sequence_number), 0) FROM snapshot WHERE persistence_id = $id", persistenceId);

    private long Scalar(string sql, string persistenceId)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(_dir, PersistenceHocon.DefaultSqliteFile)}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$id", persistenceId);
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
