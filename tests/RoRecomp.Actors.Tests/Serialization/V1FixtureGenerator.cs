using System.Collections.Immutable;
using Akka.Actor;
using Akka.TestKit;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Serialization;
using RoRecomp.Actors.Tests.ReplayBuffer;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Actors.Tests.Serialization;

public sealed class V1FixtureGenerator() : Akka.TestKit.Xunit2.TestKit(SerializationHocon.Config)
{
    [Fact]
    public async Task Generate()
    {
        var dir = Environment.GetEnvironmentVariable("RORECOMP_V1_OUT");
        if (dir is null) return;
        var serializer = new RoRecompSerializer((ExtendedActorSystem)Sys);
        var lines = new List<string>();
        foreach (var (name, (manifest, value)) in JournalSamples.All)
        {
            Assert.Equal(manifest, serializer.Manifest(value));
            lines.Add($"    \"{name}\": {{ \"manifest\": \"{manifest}\", \"base64\": \"{Convert.ToBase64String(serializer.ToBinary(value))}\" }}");
        }
        File.WriteAllText(Path.Combine(dir, "v1-journal.json"), "{\n" + string.Join(",\n", lines) + "\n}\n");

        var runDir = Directory.CreateTempSubdirectory("rorecomp-v1-").FullName;
        var system = ActorSystem.Create("v1", ReplayBufferActorTests.SystemConfig(runDir));
        var probe = new TestProbe(system, new Akka.TestKit.Xunit2.XunitAssertions());
        var rb = system.ActorOf(ReplayBufferActor.Props("v1-rb", new ReplayBufferOptions(8, 2, DrawOrder.Uniform, 3), 4));
        ImmutableArray<Response> Batch(string p, int n, long v) =>
            [.. Enumerable.Range(0, n).Select(i => RoRecompSerializerTests.MakeResponse($"{p}/{i}", v, length: 2 + i, withMask: i % 2 == 0))];
        object[] commands =
        [
            new StoreResponses(Batch("a", 4, 5)), new StoreResponses(Batch("b", 4, 6)), new StoreResponses(Batch("c", 3, 7)),
            new DrawCompensationBatch(3, 7, 1), new StoreResponses(Batch("d", 2, 9)), new EvictStale(9), new StoreResponses(Batch("e", 2, 9)),
            new DrawCompensationBatch(2, 9, 2),
        ];
        foreach (var c in commands)
        {
            rb.Tell(c, probe.Ref);
            probe.ExpectMsg<IReplayBufferReply>(TimeSpan.FromSeconds(30));
        }
        rb.Tell(GetBufferStats.Instance, probe.Ref);
        var stats = probe.ExpectMsg<BufferStats>();
        var log = system.ActorOf(EventLogActor.Props("v1-run"));
        foreach (var step in new[] { 2L, 4L })
        {
            log.Tell(new CheckpointCommitted(new RunCheckpoint(step, step * 8, step, $"/runs/v1/checkpoints/step-{step:D6}")), probe.Ref);
            probe.ExpectMsg("ok");
        }
        await system.Terminate();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        File.Copy(Path.Combine(runDir, "journal.db"), Path.Combine(dir, "v1-journal.db"), overwrite: true);
        File.WriteAllText(Path.Combine(dir, "v1-journal-ids.txt"), $"{stats.LastSequenceNr}\n{string.Join("\n", stats.Ids)}\n");

        var trainDir = Directory.CreateTempSubdirectory("rorecomp-v1t-").FullName;
        File.Copy("/tmp/v1run/journal.db", Path.Combine(trainDir, "journal.db"));
        system = ActorSystem.Create("v1t", ReplayBufferActorTests.SystemConfig(trainDir));
        probe = new TestProbe(system, new Akka.TestKit.Xunit2.XunitAssertions());
        rb = system.ActorOf(ReplayBufferActor.Props("replay-buffer-63d5244fd1d5", new ReplayBufferOptions(), 4));
        rb.Tell(GetBufferStats.Instance, probe.Ref);
        stats = probe.ExpectMsg<BufferStats>(TimeSpan.FromSeconds(30));
        log = system.ActorOf(EventLogActor.Props("run-coordinator-63d5244fd1d5"));
        log.Tell(EventLogActor.GetEvents.Instance, probe.Ref);
        var cc = probe.ExpectMsg<object[]>().Cast<CheckpointCommitted>().Single();
        await system.Terminate();
        File.WriteAllText(Path.Combine(dir, "v1-train-journal-ids.txt"), $"{stats.LastSequenceNr}\n{cc}\n{string.Join("\n", stats.Ids)}\n");
    }
}
