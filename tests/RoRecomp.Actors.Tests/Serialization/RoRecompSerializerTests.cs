using RoRecomp.Training.Steps;
using System.Collections.Immutable;
using Akka.Serialization;
using RoRecomp.Actors.Coordination;
using RoRecomp.Training.Runs;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.Learning;
using RoRecomp.Actors.Recomposition;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Serialization;
using RoRecomp.Actors.Verification;
using RoRecomp.Core.Rewards;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Metrics;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;
using RoRecomp.Core.Training;

namespace RoRecomp.Actors.Tests.Serialization;

public sealed class RoRecompSerializerTests() : Akka.TestKit.Xunit2.TestKit(SerializationHocon.Config)
{
    internal static Response MakeResponse(string id, long version = 3, int length = 5, bool withMask = false) => new(
        Id: id,
        PromptId: "train-000042",
        SampleIndex: 2,
        Step: 7,
        PolicyVersion: version,
        PromptTokens: [.. Enumerable.Range(10, 4)],
        Tokens: [.. Enumerable.Range(100, length)],
        LogProbs: [.. Enumerable.Range(0, length).Select(i => -0.25f * i - 1e-7f)],
        Reward: 1,
        Correct: true,
        ToolCalls: 2,
        FormatValid: false,
        ActionMask: withMask ? [.. Enumerable.Range(0, length).Select(i => i % 2 == 0)] : default);

    public static TheoryData<object> Messages() =>
    [
        MakeResponse("a/0"),
        MakeResponse("ü/1", withMask: true, length: 0),
        new StoreResponses([MakeResponse("a/0"), MakeResponse("a/1", withMask: true)]),
        new StoreResponses([]),
        new DrawCompensationBatch(128, 9, 12),
        new EvictStale(9),
        new ResponsesStored([MakeResponse("c/0"), MakeResponse("c/1", withMask: true)]),
        new ResponsesDrawn(["c/0"], 4),
        new ResponsesEvicted(["c/1"], EvictionReason.Stale),
        new ResponsesEvicted([], EvictionReason.Capacity),
        new ResponsesAccepted(2, 1, 0),
        new CompensationDrawn([MakeResponse("b/3")], 2),
        new NotEnoughBuffered(3, 128, 1),
        new StaleEvicted(5),
        new ReplayBufferSnapshot([MakeResponse("d/0")], 3, ["x", "y"]),
        new ReplayBufferSnapshot([MakeResponse("d/0")], 3, [], [new DrawRecord(2, [MakeResponse("d/1", withMask: true)]), new DrawRecord(3, [])]),
        new ReplayBufferSnapshot([MakeResponse("d/0")], 3, ["x"], [], [new ResponsesStored([MakeResponse("e/0")], 5), new ResponsesDrawn(["d/0"], 5), new ResponsesEvicted(["e/0"], EvictionReason.Capacity, 6)], 4),
        new StoreResponses([MakeResponse("a/2")], 9),
        new ResponsesStored([MakeResponse("c/2")], 9),
        new ResponsesStoredApart([ResponseBodyStore.Header(MakeResponse("c/3"))], 9),
        new ReplayBufferSnapshotApart(new ReplayBufferSnapshot([ResponseBodyStore.Header(MakeResponse("d/2"))], 3, ["x"], [new DrawRecord(2, [ResponseBodyStore.Header(MakeResponse("d/3"))])],
            [new ResponsesStored([ResponseBodyStore.Header(MakeResponse("e/1"))], 5)], 4)),
        new ResponsesEvicted(["c/2"], EvictionReason.Capacity, 9),
        new EvictStale(9, 3),
        new RewindTo(12),
        new BufferRewound(12),
        new Rewound(12, 5, 40),
        new CannotRewind(2, 7),
        GetBufferStats.Instance,
        GetBufferStats.CountOnly,
        new BufferStats(2, ["x", "y"], 41),
        new CheckpointCommitted(new RunCheckpoint(20, 640, 20, "/runs/a/checkpoints/step-000020")),
        new RequestWork("sampler-0"),
        new RequestWork("sampler-1", "run.task = \"thinking\"\n"),
        new WorkRefused("another run", "run.task = \"zero-rl\"\n"),
        new RunEnded(true, "finished 40 of 40 steps"),
        new RunEnded(false, "the learner failed"),
        new LeaseGranted(new WorkLease("s000003-l001", 3, 2, [8, 9, 10], 8, 1234567890123), "thinking"),
        new LeaseCompleted("s000003-l001", 3),
        new StepTrained(Metrics, Learner, "/c/step-000010"),
        new StepTrained(Metrics, Learner, null),
        new RunFailed("learner failed"),
        GetRunStatus.Instance,
        new RunStatus(3, 3, 96, 1, 2, 0, [new RunCheckpoint(2, 64, 2, "p")]),
        new StepOpened(4, 3, ["train-000001", "train-000002"]),
        new VerifyRollouts("s000004-l000", 4, [new RolloutGroup("train-000042", 7, [MakeResponse("g/0"), MakeResponse("g/1", withMask: true)])]),
        new RolloutsScored("s000004-l000", 4, [new RolloutGroup("train-000042", 7, [MakeResponse("g/0")]), new RolloutGroup("p", 7, [])]),
        new LoadPolicy([new RunCheckpoint(2, 64, 2, "p2"), new RunCheckpoint(1, 32, 1, "p1")], 60),
        new PolicyLoaded(null, 0, []),
        new PolicyLoaded(new RunCheckpoint(2, 64, 2, "p2"), 2, ["p3: corrupt"]),
        new TrainOnStep(new TrainingBatch(BatchKind.Priority, [new TrainSample(MakeResponse("t/0"), 0.75), new TrainSample(MakeResponse("t/1"), -1.5)]), Metrics),
        new TrainOnStep(new TrainingBatch(BatchKind.Compensation, [], 0.5), Metrics),
        new FetchPolicy(4),
        new FetchPolicy(4, "10.0.0.7", 39011),
        new PolicySnapshot(4, [1, 2, 3, 255], "{\"VocabSize\":20}"),
        new PolicyAvailable(4, "10.0.0.1", 4054, "ab12", 6_000_000, "{}", []),
        new PolicyAvailable(4, "10.0.0.1", 4054, "ab12", 6_000_000, "{}", ["10.0.0.7:39011", "10.0.0.8:40122"]),
        new PolicyAvailable(4, "10.0.0.1", 4054, "ab12", 6_000_000, "{}", ["10.0.0.7:39011"], "00ff"),
        new EvaluatePolicy(10, 9),
        new PublishPolicy(3, [1, 2, 3, 4], "{\"VocabSize\":20}"),
        new PolicyEvaluated(new HeldOutEvaluation(10, 0.84, 31.5, 0.25, 1.0, 512)),
        new PolicyEvaluated(new HeldOutEvaluation(10, 0.84, 31.5, 2.5, 1.0, 512, UnnecessaryToolCalls: 0.75)),
    ];

    private static readonly StepMetrics Metrics = new(3, 2, 256, 0.8, 40.5, 38.25, 0.5, 0.99, 128, 96, 100, 28, 1024);

    private static readonly LearnerMetrics Learner = new(0.1, 0.9, 0.02, 0.001, 1.5, 1e-4, -0.05, 1.0, 1.25);

    [Theory]
    [MemberData(nameof(Messages))]
    public void Akka_picks_this_serializer_and_round_trips(object message)
    {
        var serializer = Sys.Serialization.FindSerializerFor(message);
        Assert.IsType<RoRecompSerializer>(serializer);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        var bytes = serializer.ToBinary(message);
        Assert.Equal(RoRecompSerializer.FormatVersion, bytes[0]);
        var back = Sys.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
        AssertEquivalent(Sys, message, back);
    }

    [Fact]
    public void Token_ids_and_log_probs_are_raw_little_endian()
    {
        var r = MakeResponse("r", length: 64);
        var bytes = ((SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(r)).ToBinary(r);
        // 64 int32 tokens + 64 float32 log-probs dominate; reflection JSON would be several times larger.
        Assert.InRange(bytes.Length, 64 * 8, 64 * 8 + 120);
        var tokens = BitConverter.GetBytes(100).Concat(BitConverter.GetBytes(101)).ToArray();
        Assert.True(bytes.AsSpan().IndexOf(tokens) > 0);
    }

    [Fact]
    public void Every_registered_type_is_in_the_round_trip_list()
    {
        var covered = ((IEnumerable<object[]>)Messages()).Select(row => row[0].GetType()).ToHashSet();
        Assert.Equal([], MessageCodecs.All.Where(c => !covered.Contains(c.Type)).Select(c => c.Manifest).ToArray());
        Assert.Equal(MessageCodecs.All.Count, MessageCodecs.All.Select(c => c.Manifest).Distinct().Count());
    }

    [Fact]
    public void Every_type_bound_to_the_serializer_is_registered()
    {
        Type[] bound = [typeof(IRoRecompMessage), typeof(IReplayBufferCommand), typeof(IReplayBufferEvent), typeof(IReplayBufferReply), typeof(IRunEvent)];
        var types = new[] { typeof(IRoRecompMessage).Assembly, typeof(IRunEvent).Assembly }
            .SelectMany(a => a.GetTypes())
            .Where(t => !t.IsAbstract && !t.IsInterface && bound.Any(b => b.IsAssignableFrom(t)));
        Assert.Equal([], types.Where(t => !MessageCodecs.ByType.ContainsKey(t)).Select(t => t.Name).ToArray());
    }

    [Fact]
    public void Unknown_version_and_truncation_are_rejected_with_the_manifest()
    {
        var serializer = Serializer();
        var bytes = serializer.ToBinary(new EvictStale(1));
        foreach (var cut in new[] { 1, 2, bytes.Length - 1 })
        {
            var e = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.FromBinary(bytes[..cut], "ES"));
            Assert.Contains("truncated", e.Message);
            Assert.Contains("'ES'", e.Message);
        }
        var empty = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.FromBinary([], "ES"));
        Assert.Contains("'ES'", empty.Message);
        var trailing = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.FromBinary([.. bytes, 0], "ES"));
        Assert.Contains("trailing", trailing.Message);

        var newerType = bytes.ToArray();
        newerType[1] = 9;
        var t = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.FromBinary(newerType, "ES"));
        Assert.Contains("manifest 'ES' has type version 9", t.Message);

        bytes[0] = 99;
        var v = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.FromBinary(bytes, "ES"));
        Assert.Contains("version 99 of manifest 'ES'", v.Message);

        var m = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.FromBinary(bytes, "NOPE"));
        Assert.Contains("'NOPE'", m.Message);
    }

    [Fact]
    public void Fields_in_another_order_and_unknown_fields_read_the_same_values()
    {
        // What a writer with reordered and added fields produces: DrawCompensationBatch(Size 128, CurrentPolicyVersion 9, Step 12).
        var bytes = Body(1, w => w.String(40, "a field of a newer build").Long(3, 12).Double(41, 2.5).Long(2, 9).Array(42, new[] { 1, 2, 3 }.AsSpan()).Int(1, 128));

        Assert.Equal(new DrawCompensationBatch(128, 9, 12), Serializer().FromBinary(bytes, "DCB"));
    }

    [Fact]
    public void A_reordered_extended_writer_of_a_nested_response_is_read_by_field_number()
    {
        var expected = MakeResponse("n/0", withMask: true);
        var writer = new Part<Response>(
            (w, r) => w.Array(13, r.ActionMask).Int(99, 7).Bool(12, r.FormatValid).Array(8, r.LogProbs).Array(7, r.Tokens).Array(6, r.PromptTokens)
                .Long(5, r.PolicyVersion).Long(4, r.Step).Int(3, r.SampleIndex).String(2, r.PromptId).String(1, r.Id)
                .Int(11, r.ToolCalls).Bool(10, r.Correct).Double(9, r.Reward).Message(98, r, MessageCodecs.Response),
            _ => throw new NotSupportedException());
        var bytes = Body(1, w => w.Messages(1, [expected, expected with { Id = "n/1" }], writer));

        var back = (ResponsesStored)Serializer().FromBinary(bytes, "E-ST");

        AssertEquivalent(Sys, new ResponsesStored([expected, expected with { Id = "n/1" }]), back);
    }

    [Fact]
    public void A_missing_required_field_a_repeated_field_and_a_wrong_wire_kind_are_rejected_by_name()
    {
        var missing = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => Serializer().FromBinary(Body(1, w => w.Int(1, 128).Long(2, 9)), "DCB"));
        Assert.Contains("manifest 'DCB'", missing.Message);
        Assert.Contains("field 3 (Step) is missing", missing.Message);

        var twice = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => Serializer().FromBinary(Body(1, w => w.Int(1, 128).Long(2, 9).Long(3, 1).Long(3, 2)), "DCB"));
        Assert.Contains("field 3 (Step) occurs more than once", twice.Message);

        var kind = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => Serializer().FromBinary(Body(1, w => w.Int(1, 128).Long(2, 9).Double(3, 1)), "DCB"));
        Assert.Contains("field 3 (Step) has wire kind Fixed64, expected Varint", kind.Message);

        var nested = Assert.Throws<System.Runtime.Serialization.SerializationException>(
            () => Serializer().FromBinary(Body(1, w => w.Message(1, new RunCheckpoint(1, 2, 3, "p"), new Part<RunCheckpoint>((cw, c) => cw.Long(1, c.Step), _ => Unused))), "E-CC"));
        Assert.Contains("manifest 'E-CC' (type version 1) > Checkpoint: required field 2 (Cursor) is missing", nested.Message);
    }

    private static readonly RunCheckpoint Unused = new(0, 0, 0, "");

    /// <summary>A format-2 message of type version <paramref name="version"/> whose body <paramref name="write"/> writes.</summary>
    private static byte[] Body(int version, Action<TaggedWriter> write)
    {
        var w = new TaggedWriter();
        w.RawByte(RoRecompSerializer.FormatVersion);
        w.RawVarint((ulong)version);
        w.LengthPrefixed(write, (tw, f) => f(tw));
        return w.ToArray();
    }

    private SerializerWithStringManifest Serializer() => (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(new EvictStale(1));

    /// <summary>Records with ImmutableArray members compare by reference, so compare their serialised forms and key fields.</summary>
    internal static void AssertEquivalent(Akka.Actor.ActorSystem sys, object expected, object actual)
    {
        Assert.Equal(expected.GetType(), actual.GetType());
        var s = sys.Serialization.FindSerializerFor(expected);
        Assert.Equal(s.ToBinary(expected), s.ToBinary(actual));
        if (expected is Response e && actual is Response a)
        {
            Assert.Equal(e.Tokens.ToArray(), a.Tokens.ToArray());
            Assert.Equal(e.LogProbs.ToArray(), a.LogProbs.ToArray());
            Assert.Equal(e.ActionMask.IsDefault, a.ActionMask.IsDefault);
            Assert.Equal(e with { PromptTokens = a.PromptTokens, Tokens = a.Tokens, LogProbs = a.LogProbs, ActionMask = a.ActionMask }, a);
        }
    }
}
