using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using RoRecomp.Settings;
using RoRecomp.Actors.Persistence;
using RoRecomp.Training.Runs;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.Serialization;
using RoRecomp.Actors.Tests.Serialization;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Actors.Tests.ReplayBuffer;

public sealed class ReplayBufferActorTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly ReplayBufferOptions Options = new(Capacity: 10, MaxStaleness: 2);
    private const int SnapshotEvery = 3;
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

    // The first SQLite journal write initialises the schema; on a 2-core CI machine that also runs the
    // SFT test in parallel this takes longer than TestKit's 3 s default. 30 s was not enough once (2026-12-01: the
    // first ack of Store_acks_and_a_retried_store_adds_nothing_twice, at load average 37 with two training runs beside
    // the test hosts), so expectations wait up to 90 s: a missing ack still fails, only later.
    internal static Config SystemConfig(string runDir) =>
        ConfigurationFactory.ParseString("akka.test.single-expect-default = 90s")
            .WithFallback(PersistenceHocon.Build(new PersistenceSettings("sqlite", "", ""), runDir))
            .WithFallback(SerializationHocon.Config);

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        TestDirs.Delete(_dir);
    }

    private static ImmutableArray<Response> Batch(string prefix, int n, long version = 5) =>
        [.. Enumerable.Range(0, n).Select(i => RoRecompSerializerTests.MakeResponse($"{prefix}/{i}", version))];

    private IActorRef Buffer(string id = "rb", ReplayBufferOptions? options = null) =>
        Sys.ActorOf(ReplayBufferActor.Props(id, options ?? Options, SnapshotEvery));

    [Fact]
    public void Store_acks_and_a_retried_store_adds_nothing_twice()
    {
        var rb = Buffer();
        rb.Tell(new StoreResponses(Batch("a", 3)));
        ExpectMsg(new ResponsesAccepted(3, 0, 0));
        rb.Tell(new StoreResponses(Batch("a", 4)));
        ExpectMsg(new ResponsesAccepted(1, 3, 0));
        rb.Tell(new StoreResponses(Batch("a", 4)));
        ExpectMsg(new ResponsesAccepted(0, 4, 0));
        rb.Tell(GetBufferStats.Instance);
        var stats = ExpectMsg<BufferStats>();
        Assert.Equal(["a/0", "a/1", "a/2", "a/3"], stats.Ids.ToArray());
        Assert.Equal(2, stats.LastSequenceNr); // the duplicate-only store journaled nothing
        rb.Tell(GetBufferStats.CountOnly);          // what the learner asks each step: no id list
        Assert.Equal(new BufferStats(4, [], 2), ExpectMsg<BufferStats>(), BufferStatsEqual);
    }

    private static bool BufferStatsEqual(BufferStats? a, BufferStats? b) =>
        a is not null && b is not null && a.Count == b.Count && a.LastSequenceNr == b.LastSequenceNr && a.Ids.SequenceEqual(b.Ids);

    [Fact]
    public void Draw_takes_oldest_first_full_batches_only()
    {
        var rb = Buffer();
        rb.Tell(new StoreResponses(Batch("a", 3)));
        rb.Tell(new StoreResponses(Batch("b", 2)));
        ExpectMsg<ResponsesAccepted>();
        ExpectMsg<ResponsesAccepted>();
        rb.Tell(new DrawCompensationBatch(4, CurrentPolicyVersion: 5, Step: 1));
        Assert.Equal(["a/0", "a/1", "a/2", "b/0"], ExpectMsg<CompensationDrawn>().Responses.Select(r => r.Id).ToArray());
        rb.Tell(new DrawCompensationBatch(4, 5, 2));
        ExpectMsg(new NotEnoughBuffered(1, 4, 0));
        rb.Tell(GetBufferStats.Instance);
        Assert.Equal(["b/1"], ExpectMsg<BufferStats>().Ids.ToArray());
    }

    [Fact]
    public void Invalid_command_fails_the_ask_and_keeps_the_actor()
    {
        var rb = Buffer();
        rb.Tell(new DrawCompensationBatch(0, 5, 1));
        Assert.IsType<ArgumentException>(ExpectMsg<Status.Failure>().Cause);
        rb.Tell(GetBufferStats.Instance);
        Assert.Equal(0, ExpectMsg<BufferStats>().Count);
    }

    [Fact]
    public void Evict_stale_and_capacity_drop_the_right_ids()
    {
        var rb = Buffer();
        rb.Tell(new StoreResponses(Batch("old", 2, version: 1)));
        rb.Tell(new StoreResponses(Batch("new", 2, version: 4)));
        ExpectMsg<ResponsesAccepted>();
        ExpectMsg<ResponsesAccepted>();
        rb.Tell(new EvictStale(CurrentPolicyVersion: 4));
        ExpectMsg(new StaleEvicted(2));
        rb.Tell(new EvictStale(CurrentPolicyVersion: 4));
        ExpectMsg(new StaleEvicted(0));
        rb.Tell(new StoreResponses(Batch("big", 9, version: 4)));
        ExpectMsg(new ResponsesAccepted(9, 0, 1));
        rb.Tell(GetBufferStats.Instance);
        var stats = ExpectMsg<BufferStats>();
        Assert.Equal(10, stats.Count);
        Assert.Equal("new/1", stats.Ids[0]);
    }

    [Fact]
    public async Task A_killed_buffer_in_a_terminated_system_recovers_the_same_ids_from_sqlite()
    {
        var options = Options with { Capacity = 1000, DrawOrder = DrawOrder.Uniform, Seed = 3 };
        string[] expected;
        var first = ActorSystem.Create("first", SystemConfig(_dir));
        try
        {
            var probe = new Akka.TestKit.TestProbe(first, new Akka.TestKit.Xunit2.XunitAssertions());
            var rb = first.ActorOf(ReplayBufferActor.Props("crash", options, SnapshotEvery));
            for (var i = 0; i < 9; i++)
            {
                rb.Tell(new StoreResponses(Batch($"s{i}", 5)), probe.Ref);
                probe.ExpectMsg<ResponsesAccepted>();
            }
            rb.Tell(new DrawCompensationBatch(7, 5, 1), probe.Ref);
            probe.ExpectMsg<CompensationDrawn>();
            rb.Tell(GetBufferStats.Instance, probe.Ref);
            expected = [.. probe.ExpectMsg<BufferStats>().Ids];
            // No graceful stop: the actor is killed, then its system is torn down.
            rb.Tell(Kill.Instance);
        }
        finally
        {
            await first.Terminate();
        }

        var recovered = Sys.ActorOf(ReplayBufferActor.Props("crash", options, SnapshotEvery));
        recovered.Tell(GetBufferStats.Instance);
        var stats = ExpectMsg<BufferStats>(TimeSpan.FromSeconds(10));
        Assert.Equal(9 * 5 - 7, expected.Length); // snapshots at events 3, 6, 9; the draw (event 10) replays on top
        Assert.Equal(expected, stats.Ids.ToArray());
        Assert.True(File.Exists(Path.Combine(_dir, PersistenceHocon.DefaultSqliteFile)));

        // The recovered state decides exactly as the original would: a retried store is still a duplicate.
        recovered.Tell(new StoreResponses(Batch("s0", 5)));
        ExpectMsg(new ResponsesAccepted(0, 5, 0));
    }
}
