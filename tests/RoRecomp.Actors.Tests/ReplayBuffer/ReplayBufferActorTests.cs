using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using RoRecomp.Actors.Configuration;
using RoRecomp.Actors.Persistence;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Serialization;
using RoRecomp.Actors.Tests.Serialization;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Actors.Tests.ReplayBuffer;

public sealed class ReplayBufferActorTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly BufferSettings Settings = new(Capacity: 10, MaxStaleness: 2, SnapshotEvery: 3);
    private readonly string _dir;

    public ReplayBufferActorTests()
        : this(Directory.CreateTempSubdirectory("rorecomp-rb-").FullName)
    {
    }

    private ReplayBufferActorTests(string dir)
        : base(SystemConfig(dir))
    {
        _dir = dir;
    }

    internal static Config SystemConfig(string runDir) =>
        PersistenceHocon.Build(new PersistenceSettings("sqlite", "", ""), runDir).WithFallback(SerializationHocon.Config);

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A journal file still closing; the OS temp dir is cleaned eventually.
        }
    }

    private static ImmutableArray<Response> Batch(string prefix, int n, long version = 5) =>
        [.. Enumerable.Range(0, n).Select(i => RoRecompSerializerTests.MakeResponse($"{prefix}/{i}", version))];

    private IActorRef Buffer(string id = "rb", string order = "oldest-first") =>
        Sys.ActorOf(ReplayBufferActor.Props(id, Settings, order));

    [Fact]
    public void Store_acks_and_a_retried_store_adds_nothing_twice()
    {
        var rb = Buffer();
        rb.Tell(new StoreResponses("s1", Batch("a", 3)));
        ExpectMsg(new ResponsesStoredAck("s1", 3, 0));
        rb.Tell(new StoreResponses("s1", Batch("a", 4)));
        ExpectMsg(new ResponsesStoredAck("s1", 1, 3));
        rb.Tell(new StoreResponses("s1", Batch("a", 4)));
        ExpectMsg(new ResponsesStoredAck("s1", 0, 4));
        rb.Tell(GetBufferStats.Instance);
        var stats = ExpectMsg<BufferStats>();
        Assert.Equal(["a/0", "a/1", "a/2", "a/3"], stats.Ids.ToArray());
        Assert.Equal(2, stats.LastSequenceNr);
    }

    [Fact]
    public void Draw_takes_oldest_first_full_batches_only()
    {
        var rb = Buffer();
        rb.Tell(new StoreResponses("s1", Batch("a", 3)));
        rb.Tell(new StoreResponses("s2", Batch("b", 2)));
        ExpectMsg<ResponsesStoredAck>();
        ExpectMsg<ResponsesStoredAck>();
        rb.Tell(new DrawCompensationBatch(4));
        Assert.Equal(["a/0", "a/1", "a/2", "b/0"], ExpectMsg<CompensationBatchDrawn>().Responses.Select(r => r.Id).ToArray());
        rb.Tell(new DrawCompensationBatch(4));
        ExpectMsg(new NotEnoughResponses(1, 4));
        rb.Tell(GetBufferStats.Instance);
        Assert.Equal(["b/1"], ExpectMsg<BufferStats>().Ids.ToArray());
    }

    [Fact]
    public void Uniform_draw_is_reproducible_by_seed()
    {
        var rb = Buffer("u", "uniform");
        rb.Tell(new StoreResponses("s1", Batch("a", 10)));
        ExpectMsg<ResponsesStoredAck>();
        rb.Tell(new DrawCompensationBatch(3, Seed: 42));
        var ids = ExpectMsg<CompensationBatchDrawn>().Responses.Select(r => r.Id).ToArray();
        Assert.Equal(3, ids.Distinct().Count());
        var model = Enumerable.Range(0, 10).Select(i => $"a/{i}").ToArray();
        var rng = new Random(42);
        var idx = Enumerable.Range(0, 10).ToArray();
        rng.Shuffle(idx);
        Assert.Equal(idx.Take(3).Order().Select(i => model[i]).ToArray(), ids);
    }

    [Fact]
    public void Evict_stale_and_capacity_drop_the_right_ids()
    {
        var rb = Buffer();
        rb.Tell(new StoreResponses("old", Batch("old", 2, version: 1)));
        rb.Tell(new StoreResponses("new", Batch("new", 2, version: 4)));
        ExpectMsg<ResponsesStoredAck>();
        ExpectMsg<ResponsesStoredAck>();
        rb.Tell(new EvictStale(CurrentPolicyVersion: 4));
        Assert.Equal(["old/0", "old/1"], ExpectMsg<StaleEvicted>().Ids.ToArray());
        rb.Tell(new EvictStale(CurrentPolicyVersion: 4));
        Assert.Empty(ExpectMsg<StaleEvicted>().Ids);
        rb.Tell(new StoreResponses("big", Batch("big", 9, version: 4)));
        ExpectMsg(new ResponsesStoredAck("big", 9, 0));
        rb.Tell(GetBufferStats.Instance);
        var stats = ExpectMsg<BufferStats>();
        Assert.Equal(10, stats.Count);
        Assert.Equal("new/1", stats.Ids[0]);
    }

    [Fact]
    public async Task A_killed_buffer_in_a_terminated_system_recovers_the_same_ids_from_sqlite()
    {
        string[] expected;
        var first = ActorSystem.Create("first", SystemConfig(_dir));
        try
        {
            var probe = new Akka.TestKit.TestProbe(first, new Akka.TestKit.Xunit2.XunitAssertions());
            var rb = first.ActorOf(ReplayBufferActor.Props("crash", Settings with { Capacity = 1000 }, "oldest-first"));
            for (var i = 0; i < 9; i++)
            {
                rb.Tell(new StoreResponses($"s{i}", Batch($"s{i}", 5)), probe.Ref);
                probe.ExpectMsg<ResponsesStoredAck>();
            }
            rb.Tell(new DrawCompensationBatch(7), probe.Ref);
            probe.ExpectMsg<CompensationBatchDrawn>();
            rb.Tell(GetBufferStats.Instance, probe.Ref);
            expected = [.. probe.ExpectMsg<BufferStats>().Ids];
            // No graceful stop: the actor is killed, then its system is torn down.
            rb.Tell(Kill.Instance);
        }
        finally
        {
            await first.Terminate();
        }

        var recovered = Sys.ActorOf(ReplayBufferActor.Props("crash", Settings with { Capacity = 1000 }, "oldest-first"));
        recovered.Tell(GetBufferStats.Instance);
        var stats = ExpectMsg<BufferStats>(TimeSpan.FromSeconds(10));
        Assert.Equal(9 * 5 - 7, expected.Length); // snapshots at events 3, 6, 9; the draw (event 10) replays on top
        Assert.Equal(expected, stats.Ids.ToArray());
        Assert.True(File.Exists(Path.Combine(_dir, PersistenceHocon.DefaultSqliteFile)));
    }
}
