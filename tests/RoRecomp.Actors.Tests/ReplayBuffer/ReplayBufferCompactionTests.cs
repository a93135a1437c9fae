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
using RoRecomp.Settings;

namespace RoRecomp.Actors.Tests.ReplayBuffer;

/// <summary>
/// The replay buffer's journal compaction (snapshot, delete events up to it, delete older snapshots, and with a body
/// store the bodies no snapshot names): the journal and the body store stay bounded, and a process dying at any point of
/// the cycle recovers exactly the state it had (nothing lost, nothing twice), with its responses' token arrays.
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

    private ResponseBodyStore BodyStore => ResponseBodyStore.For(new PersistenceSettings("sqlite", "", ""), _dir);

    private IActorRef Buffer(ActorSystem system, string id, bool bodies) =>
        system.ActorOf(ReplayBufferActor.Props(id, Options, SnapshotEvery, SnapshotAfterStored, bodies: bodies ? BodyStore : null));

    private static async Task<T> Ask<T>(IActorRef buffer, object message) => await buffer.Ask<T>(message, TimeSpan.FromSeconds(30));

    /// <summary>
    /// What recovery must reproduce: held ids in order, the journal position, and the answer to a re-run draw (ids, and
    /// every drawn response's token arrays as text).
    /// </summary>
    private sealed record Observed(string[] Ids, long LastSequenceNr, string[] Draw1, string[] Draw1Bodies);

    private static async Task<Observed> Observe(IActorRef buffer)
    {
        var stats = await Ask<BufferStats>(buffer, GetBufferStats.Instance);
        var draw = await Ask<CompensationDrawn>(buffer, new DrawCompensationBatch(4, CurrentPolicyVersion: 5, Step: 1));
        return new Observed([.. stats.Ids], stats.LastSequenceNr, [.. draw.Responses.Select(r => r.Id)], [.. draw.Responses.Select(ResponseBodyStoreTests.BodyText)]);
    }

    [Theory]
    [InlineData(CrashPoint.DuringSnapshotSave, false)]
    [InlineData(CrashPoint.AfterSnapshotSave, false)]
    [InlineData(CrashPoint.MidEventDelete, false)]
    [InlineData(CrashPoint.AfterEventDelete, false)]
    [InlineData(CrashPoint.DuringSnapshotSave, true)]
    [InlineData(CrashPoint.AfterSnapshotSave, true)]
    [InlineData(CrashPoint.MidEventDelete, true)]
    [InlineData(CrashPoint.AfterEventDelete, true)]
    public async Task A_crash_anywhere_in_the_cycle_recovers_the_same_buffer(CrashPoint point, bool bodies)
    {
        var id = $"rb-{point}-{bodies}";
        var crashId = $"{Guid.NewGuid():N}";
        Observed before;
        var first = ActorSystem.Create("crashing", CrashingSqlPlugins.Config(point, crashId).WithFallback(Sql));
        try
        {
            var rb = Buffer(first, id, bodies);
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
            var rb = Buffer(second, id, bodies);
            var after = await Observe(rb);
            Assert.Equal(before.Ids, after.Ids);
            Assert.Equal(before.LastSequenceNr, after.LastSequenceNr);
            Assert.Equal(before.Draw1, after.Draw1);
            Assert.Equal(before.Draw1Bodies, after.Draw1Bodies);
            Assert.Equal(ResponseBodyStoreTests.BodyText(Batch("x", 1)[0]), after.Draw1Bodies[0]); // the arrays themselves, not empty headers
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

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_journal_holds_one_snapshot_and_the_events_since_it_however_many_responses_passed(bool bodies)
    {
        var id = $"rb-bounded-{bodies}";
        var system = ActorSystem.Create("compacting", Sql);
        try
        {
            var rb = Buffer(system, id, bodies);
            for (var i = 0; i < 40; i++) await Ask<ResponsesAccepted>(rb, new StoreResponses(Batch($"b{i}", 3)));
            var stats = await Ask<BufferStats>(rb, GetBufferStats.Instance);
            Assert.Equal(12, stats.Count);
            // 40 stores, each with a capacity eviction once full: 76 events journaled. Once the cycles catch up, the events
            // since the snapshot (fewer than 6 stored responses: one store, 2 events) and the kept sequence marker remain.
            Assert.Equal(76, stats.LastSequenceNr);
            await AwaitCompacted(id, stats.LastSequenceNr);
            var (events, snapshots) = Rows(id);
            Assert.True(events <= 3, $"{events} journal rows left");
            Assert.Equal(1, snapshots);
            Assert.Equal([.. Enumerable.Range(36, 4).SelectMany(i => Enumerable.Range(0, 3).Select(j => $"b{i}/{j}"))], stats.Ids.ToArray());
            var payload = Scalar("SELECT COALESCE(SUM(LENGTH(message)), 0) FROM journal WHERE persistence_id = $id", id)
                + Scalar("SELECT COALESCE(SUM(LENGTH(snapshot)), 0) FROM snapshot WHERE persistence_id = $id", id);
            var held = 12 * ResponseBodyStore.Encode(Batch("x", 1)[0]).Length;
            if (bodies)
            {
                // 120 responses passed through; the store keeps the 12 held, those of the events since the snapshot, and the
                // last cycle's cut (at most one store more), and the journal only headers.
                var (rows, bytes) = BodyStore.Size(id);
                Assert.InRange(rows, 12, 12 + 6);
                Assert.True(payload < held / 2, $"journal + snapshot {payload} bytes with bodies kept apart ({held} held body bytes)");
                Assert.True(bytes <= 2 * held, $"{bytes} body bytes for {held} held");
            }
            else
            {
                Assert.True(payload > held, $"journal + snapshot {payload} bytes, {held} held body bytes");
            }
        }
        finally
        {
            await system.Terminate();
        }

        var again = ActorSystem.Create("again", Sql);
        try
        {
            var rb = Buffer(again, id, bodies);
            var stats = await Ask<BufferStats>(rb, GetBufferStats.Instance);
            Assert.Equal(12, stats.Count);
            Assert.Equal("b36/0", stats.Ids[0]);
            var draw = await Ask<CompensationDrawn>(rb, new DrawCompensationBatch(12, CurrentPolicyVersion: 5, Step: 50));
            Assert.All(draw.Responses, r => Assert.Equal(ResponseBodyStoreTests.BodyText(Batch("x", 1)[0]), ResponseBodyStoreTests.BodyText(r)));
        }
        finally
        {
            await again.Terminate();
        }
    }

    [Fact]
    public async Task Bodies_written_before_a_crash_kept_their_event_from_the_journal_are_deleted_by_the_next_cycle()
    {
        // What a process killed between a chunk's body write and its event leaves: rows that no event names.
        const string id = "rb-orphans";
        await BodyStore.WriteAsync(id, generation: 1, [.. Batch("orphan", 5)]);
        var system = ActorSystem.Create("orphans", Sql);
        try
        {
            var rb = Buffer(system, id, bodies: true);
            for (var i = 0; i < 4; i++) await Ask<ResponsesAccepted>(rb, new StoreResponses(Batch($"o{i}", 3)));
            var stats = await Ask<BufferStats>(rb, GetBufferStats.Instance);
            Assert.Equal(12, stats.Count);
            await AwaitCompacted(id, stats.LastSequenceNr);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (BodyStore.Size(id).Rows > 12 && DateTime.UtcNow < deadline) await Task.Delay(100);
            Assert.Equal(12, BodyStore.Size(id).Rows);
            // The orphans were never in the buffer: storing them now is a first store, not a duplicate.
            Assert.Equal(5, (await Ask<ResponsesAccepted>(rb, new StoreResponses(Batch("orphan", 5)))).Stored);
        }
        finally
        {
            await system.Terminate();
        }
    }

    [Fact]
    public async Task A_store_whose_bodies_cannot_be_written_fails_with_the_place_and_stores_nothing()
    {
        var system = ActorSystem.Create("unwritable", Sql);
        try
        {
            var rb = Buffer(system, "rb-unwritable", bodies: true);
            Assert.Equal(0, (await Ask<BufferStats>(rb, GetBufferStats.CountOnly)).Count); // recovered: the bodies file exists
            // The bodies file becomes something SQLite cannot open (a directory in its place).
            var file = ResponseBodyStore.BodiesFile(Path.Combine(_dir, PersistenceHocon.DefaultSqliteFile));
            SqliteConnection.ClearAllPools();
            File.Delete(file);
            Directory.CreateDirectory(file);
            var e = await Assert.ThrowsAsync<JournalWriteException>(() => Ask<ResponsesAccepted>(rb, new StoreResponses(Batch("u", 3))));
            Assert.Contains("response bodies", e.Message);
            Assert.Contains("journal.bodies.db", e.Message);
            // The buffer keeps running (nothing was decided): it still answers, holds nothing, and stores once the file is back.
            Assert.Equal(0, (await Ask<BufferStats>(rb, GetBufferStats.CountOnly)).Count);
            Directory.Delete(file);
            Assert.Equal(3, (await Ask<ResponsesAccepted>(rb, new StoreResponses(Batch("u", 3)))).Stored);
        }
        finally
        {
            await system.Terminate();
        }
    }

    [Fact]
    public async Task A_journal_of_bodies_kept_apart_read_without_a_body_store_fails_naming_the_setting()
    {
        var system = ActorSystem.Create("apart", Sql);
        try
        {
            await Ask<ResponsesAccepted>(Buffer(system, "rb-apart", bodies: true), new StoreResponses(Batch("a", 3)));
        }
        finally
        {
            await system.Terminate();
        }
        var again = ActorSystem.Create("apart-again", Sql);
        try
        {
            var probe = new TestProbe(again, new XunitAssertions());
            again.EventStream.Subscribe(probe.Ref, typeof(JournalUnreadable));
            Buffer(again, "rb-apart", bodies: false);
            var failed = probe.ExpectMsg<JournalUnreadable>(TimeSpan.FromSeconds(30));
            Assert.Contains("response-bodies", failed.Cause.ToString());
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
