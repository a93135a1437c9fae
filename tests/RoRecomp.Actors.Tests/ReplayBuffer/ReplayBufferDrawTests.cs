using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Microsoft.Data.Sqlite;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;
using RoRecomp.Settings;

namespace RoRecomp.Actors.Tests.ReplayBuffer;

/// <summary>
/// The learner's draw is not held behind the journal writes of other steps' stores (issue 13's coordination profile),
/// and a crash while such a write is held still loses and duplicates nothing: what was answered is durable, what was
/// not answered is retried and stored once.
/// </summary>
public sealed class ReplayBufferDrawTests : IDisposable
{
    private static readonly ReplayBufferOptions Options = new(Capacity: 100, MaxStaleness: 100);
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(20);
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-rbd-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        TestDirs.Delete(_dir);
    }

    private Config Sql => ReplayBufferActorTests.SystemConfig(_dir).WithFallback("akka.loglevel = WARNING");

    private static ImmutableArray<Response> Batch(string prefix, int n) => ReplayBufferCompactionTests.Batch(prefix, n);

    private static string[] Ids(IReplayBufferReply reply) => [.. ((CompensationDrawn)reply).Responses.Select(r => r.Id)];

    private static async Task Until(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Answer;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the held journal");
            await Task.Delay(20);
        }
    }

    // With a body store (bodies = true) a store chunk's bodies are written before its event: the held journal then holds
    // the event, as it holds the whole write without one, and the same must hold.
    private ResponseBodyStore? Bodies(bool bodies) => bodies ? ResponseBodyStore.For(new PersistenceSettings("sqlite", "", ""), _dir) : null;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_draw_is_answered_while_the_next_steps_store_waits_for_the_journal_and_a_crash_then_loses_nothing(bool bodies)
    {
        var holdId = $"{Guid.NewGuid():N}";
        var gate = HeldWrites.Named(holdId);
        var first = ActorSystem.Create("held", HeldWrites.Config(holdId).WithFallback(Sql));
        try
        {
            var recomposer = new TestProbe(first, new XunitAssertions());
            var learner = new TestProbe(first, new XunitAssertions());
            var rb = first.ActorOf(ReplayBufferActor.Props("rb-held", Options, snapshotEvery: 1000, bodies: Bodies(bodies)));
            rb.Tell(new StoreResponses(Batch("a", 4), 1), recomposer.Ref);
            gate.Release();
            recomposer.ExpectMsg(new ResponsesAccepted(4, 0, 0), Answer);

            // Step 2's store is being written (held), step 3's waits for its turn.
            rb.Tell(new StoreResponses(Batch("b", 4), 2), recomposer.Ref);
            await Until(() => gate.Passed == 1 && gate.Waiting == 1);
            rb.Tell(new StoreResponses(Batch("c", 4), 3), recomposer.Ref);

            // The size is answered at once (a stashing buffer answered it only after every queued write).
            rb.Tell(GetBufferStats.CountOnly, learner.Ref);
            Assert.Equal(8, learner.ExpectMsg<BufferStats>(Answer).Count); // a and b: decided, b still being written

            // Step 1's draw is journaled after b's write (it may hand out b's responses), so it waits for that write...
            rb.Tell(new DrawCompensationBatch(2, CurrentPolicyVersion: 5, Step: 1), learner.Ref);
            learner.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
            gate.Release();
            // ...but not for c's, which is held from now on: the draw went to the journal before it.
            Assert.Equal(["a/0", "a/1"], Ids(learner.ExpectMsg<IReplayBufferReply>(Answer)));
            recomposer.ExpectMsg(new ResponsesAccepted(4, 0, 0), Answer);
            await Until(() => gate.Passed == 2 && gate.Waiting == 1); // c at the gate: b and the draw are durable
            recomposer.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // c is not acknowledged: its write is held
        }
        finally
        {
            await first.Terminate(); // c's write never completes, as in a process killed mid-write
        }

        var second = ActorSystem.Create("recovered", Sql);
        try
        {
            var probe = new TestProbe(second, new XunitAssertions());
            var rb = second.ActorOf(ReplayBufferActor.Props("rb-held", Options, snapshotEvery: 1000, bodies: Bodies(bodies)));
            rb.Tell(GetBufferStats.Instance, probe.Ref);
            Assert.Equal(["a/2", "a/3", "b/0", "b/1", "b/2", "b/3"], probe.ExpectMsg<BufferStats>(Answer).Ids.ToArray());
            // The answered draw is durable: step 1 re-drawn gets the same responses, and they are not held twice.
            rb.Tell(new DrawCompensationBatch(2, 5, 1), probe.Ref);
            Assert.Equal(["a/0", "a/1"], Ids(probe.ExpectMsg<IReplayBufferReply>(Answer)));
            // The unacknowledged store is retried by its sender and stored once; the acknowledged ones stay duplicates.
            rb.Tell(new StoreResponses(Batch("c", 4), 3), probe.Ref);
            probe.ExpectMsg(new ResponsesAccepted(4, 0, 0), Answer);
            rb.Tell(new StoreResponses(Batch("b", 4), 2), probe.Ref);
            probe.ExpectMsg(new ResponsesAccepted(0, 4, 0), Answer);
        }
        finally
        {
            await second.Terminate();
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_large_store_is_written_in_chunks_a_draw_goes_between_them_and_a_crash_between_chunks_is_completed_by_the_retry(bool bodies)
    {
        var holdId = $"{Guid.NewGuid():N}";
        var gate = HeldWrites.Named(holdId);
        var chunk = (int)ReplayBufferActor.BodyBytes(Batch("x", 1)[0]) * 2; // two responses a write
        var options = Options with { Capacity = 7 };
        var first = ActorSystem.Create("chunks", HeldWrites.Config(holdId).WithFallback(Sql));
        try
        {
            var recomposer = new TestProbe(first, new XunitAssertions());
            var learner = new TestProbe(first, new XunitAssertions());
            var rb = first.ActorOf(ReplayBufferActor.Props("rb-chunks", options, snapshotEvery: 1000, storeChunkBytes: chunk, bodies: Bodies(bodies)));
            rb.Tell(new StoreResponses(Batch("a", 4), 1), recomposer.Ref);
            gate.Release(2);
            recomposer.ExpectMsg(new ResponsesAccepted(4, 0, 0), Answer); // two writes, one reply

            rb.Tell(new StoreResponses(Batch("b", 6), 2), recomposer.Ref); // three writes; the 7-capacity evicts 3
            await Until(() => gate.Passed == 2 && gate.Waiting == 1);
            rb.Tell(new DrawCompensationBatch(2, CurrentPolicyVersion: 5, Step: 1), learner.Ref);
            gate.Release();
            Assert.Equal(["a/0", "a/1"], Ids(learner.ExpectMsg<IReplayBufferReply>(Answer)));
            gate.Release();
            await Until(() => gate.Passed == 4 && gate.Waiting == 1); // b's third chunk is held: b/0-b/3 are durable, b/4 and b/5 are not
            recomposer.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        }
        finally
        {
            await first.Terminate();
        }

        var second = ActorSystem.Create("chunks-recovered", Sql);
        try
        {
            var probe = new TestProbe(second, new XunitAssertions());
            var rb = second.ActorOf(ReplayBufferActor.Props("rb-chunks", options, snapshotEvery: 1000, storeChunkBytes: chunk, bodies: Bodies(bodies)));
            rb.Tell(GetBufferStats.Instance, probe.Ref);
            Assert.Equal(["a/2", "a/3", "b/0", "b/1", "b/2", "b/3"], probe.ExpectMsg<BufferStats>(Answer).Ids.ToArray());
            rb.Tell(new StoreResponses(Batch("b", 6), 2), probe.Ref);
            probe.ExpectMsg(new ResponsesAccepted(2, 4, 1), Answer);
            rb.Tell(GetBufferStats.Instance, probe.Ref);
            // The same buffer one uninterrupted store leaves: the oldest evicted past capacity, b in order.
            Assert.Equal(["a/3", "b/0", "b/1", "b/2", "b/3", "b/4", "b/5"], probe.ExpectMsg<BufferStats>(Answer).Ids.ToArray());
        }
        finally
        {
            await second.Terminate();
        }
    }
}
