using System.Text.Json;
using Akka.Actor;
using Akka.Serialization;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Serialization;
using RoRecomp.Actors.Tests.ReplayBuffer;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Replay;

namespace RoRecomp.Actors.Tests.Serialization;

/// <summary>
/// Journals written by format 1 (positional, before tagged fields) still recover: golden bytes of every journaled type
/// and SQLite journals written by the v1 code (see Fixtures/ and the commit that added them).
/// </summary>
public sealed class V1JournalTests : Akka.TestKit.Xunit2.TestKit
{
    private readonly string _dir;

    public V1JournalTests()
        : this(Directory.CreateTempSubdirectory("rorecomp-v1-").FullName)
    {
    }

    private V1JournalTests(string dir)
        : base(ReplayBufferActorTests.SystemConfig(dir))
    {
        _dir = dir;
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        TestDirs.Delete(_dir);
    }

    /// <summary>A file of Fixtures/, found from the test binaries up to the project's source folder.</summary>
    internal static string Fixture(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, "Serialization", "Fixtures", name);
            if (File.Exists(path))
                return path;
        }
        throw new FileNotFoundException($"Serialization/Fixtures/{name} not found above {AppContext.BaseDirectory}");
    }

    public static TheoryData<string> Samples() => [.. JournalSamples.All.Keys];

    [Theory]
    [MemberData(nameof(Samples))]
    public void Golden_v1_bytes_read_back_to_equal_values(string name)
    {
        var golden = JsonDocument.Parse(File.ReadAllText(Fixture("v1-journal.json"))).RootElement.GetProperty(name);
        var bytes = Convert.FromBase64String(golden.GetProperty("base64").GetString()!);
        var (manifest, expected) = JournalSamples.All[name];
        Assert.Equal(manifest, golden.GetProperty("manifest").GetString());
        Assert.Equal(RoRecompSerializer.PositionalFormatVersion, bytes[0]);
        var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(expected);
        Assert.Equal(manifest, serializer.Manifest(expected));

        var back = serializer.FromBinary(bytes, manifest);

        RoRecompSerializerTests.AssertEquivalent(Sys, expected, back);
        Assert.Equal(RoRecompSerializer.FormatVersion, serializer.ToBinary(back)[0]); // rewritten in the new format
    }

    [Fact]
    public void A_v1_snapshot_written_before_recent_draws_existed_reads_with_none()
    {
        var golden = JsonDocument.Parse(File.ReadAllText(Fixture("v1-journal.json"))).RootElement.GetProperty("snapshot-no-draws");
        var bytes = Convert.FromBase64String(golden.GetProperty("base64").GetString()!);
        var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(GetRunStatus.Instance);

        var back = (ReplayBufferSnapshot)serializer.FromBinary(bytes[..^4], "S-RB"); // without the trailing draw count 0

        Assert.Empty(back.RecentDraws);
        Assert.Equal("s/0", Assert.Single(back.Entries).Id);
    }

    [Fact]
    public void Format_1_is_refused_for_types_no_journal_holds()
    {
        var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(new EvictStale(1));
        var e = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.FromBinary([1, 9, 0, 0, 0, 0, 0, 0, 0], "ES"));
        Assert.Contains("format version 1 of manifest 'ES'", e.Message);
    }

    [Fact]
    public void A_v1_sqlite_journal_recovers_the_same_buffer_and_checkpoints_and_continues_in_format_2()
    {
        File.Copy(Fixture("v1-journal.db"), Path.Combine(_dir, "journal.db"));
        var expected = File.ReadAllLines(Fixture("v1-journal-ids.txt"));
        var options = new ReplayBufferOptions(8, 2, DrawOrder.Uniform, 3);

        var rb = Sys.ActorOf(ReplayBufferActor.Props("v1-rb", options, 4));
        rb.Tell(GetBufferStats.Instance);
        var stats = ExpectMsg<BufferStats>();
        Assert.Equal(long.Parse(expected[0]), stats.LastSequenceNr); // snapshot (S-RB v1) at 8, then event 9 replayed on it
        Assert.Equal(expected[1..], stats.Ids.ToArray());
        Assert.Equal(
            [new CheckpointCommitted(new RunCheckpoint(2, 16, 2, "/runs/v1/checkpoints/step-000002")), new CheckpointCommitted(new RunCheckpoint(4, 32, 4, "/runs/v1/checkpoints/step-000004"))],
            Checkpoints("v1-run"));

        // New events go on top in format 2; a second recovery reads the mixed journal.
        rb.Tell(new StoreResponses([RoRecompSerializerTests.MakeResponse("v2/0", version: 9)]));
        ExpectMsg(new ResponsesAccepted(1, 0, 0));
        Stop(rb);
        var again = Sys.ActorOf(ReplayBufferActor.Props("v1-rb", options, 4));
        again.Tell(GetBufferStats.Instance);
        Assert.Equal([.. expected[1..], "v2/0"], ExpectMsg<BufferStats>().Ids.ToArray());
    }

    [Fact]
    public void The_journal_of_a_v1_train_run_recovers_the_same_buffer_and_checkpoint()
    {
        File.Copy(Fixture("v1-train-journal.db"), Path.Combine(_dir, "journal.db"));
        var expected = File.ReadAllLines(Fixture("v1-train-journal-ids.txt"));

        var rb = Sys.ActorOf(ReplayBufferActor.Props("replay-buffer-63d5244fd1d5", new ReplayBufferOptions(), 4));
        rb.Tell(GetBufferStats.Instance);
        var stats = ExpectMsg<BufferStats>();
        Assert.Equal(long.Parse(expected[0]), stats.LastSequenceNr);
        Assert.Equal(expected[2..], stats.Ids.ToArray());
        Assert.Equal(expected[1], Assert.Single(Checkpoints("run-coordinator-63d5244fd1d5")).ToString());
    }

    private object[] Checkpoints(string persistenceId)
    {
        var log = Sys.ActorOf(EventLogActor.Props(persistenceId));
        log.Tell(EventLogActor.GetEvents.Instance);
        return ExpectMsg<object[]>();
    }

    private void Stop(IActorRef actor)
    {
        Watch(actor);
        actor.Tell(PoisonPill.Instance);
        ExpectTerminated(actor);
    }
}
