using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Text;
using SerializationException = System.Runtime.Serialization.SerializationException;
using Akka.Actor;
using Akka.Serialization;
using RoRecomp.Actors.Protocols;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Metrics;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;
using RoRecomp.Core.Training;
using RoRecomp.Training.Steps;

namespace RoRecomp.Actors.Serialization;

/// <summary>
/// The one serializer that owns the wire and journal format of RoRecomp's messages. Layout: a version byte, then the
/// fields in declaration order; strings as UTF-8 with a length prefix, token ids / log-probs / masks as raw
/// little-endian arrays with an int32 length (-1 for a default array). One short manifest per type.
/// </summary>
public sealed class RoRecompSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>Serializer id (must be unique in the actor system; Akka reserves 0-100).</summary>
    public const int Id = 5271;

    /// <summary>Current format version written as the first byte.</summary>
    public const byte FormatVersion = 1;

    private const string ResponseManifest = "R";
    private const string StoreManifest = "SR";
    private const string DrawManifest = "DCB";
    private const string EvictManifest = "ES";
    private const string StoredEventManifest = "E-ST";
    private const string DrawnEventManifest = "E-DR";
    private const string EvictedEventManifest = "E-EV";
    private const string AcceptedManifest = "RA";
    private const string DrawnManifest = "CD";
    private const string NotEnoughManifest = "NE";
    private const string StaleEvictedManifest = "SEV";
    private const string SnapshotManifest = "S-RB";
    private const string GetStatsManifest = "GBS";
    private const string StatsManifest = "BS";
    private const string CheckpointCommittedManifest = "E-CC";
    private const string RequestWorkManifest = "RW";
    private const string LeaseGrantedManifest = "LG";
    private const string LeaseCompletedManifest = "LC";
    private const string StepTrainedManifest = "ST";
    private const string RunFailedManifest = "RF";
    private const string GetRunStatusManifest = "GRS";
    private const string RunStatusManifest = "RS";
    private const string StepOpenedManifest = "SO";
    private const string VerifyManifest = "VR";
    private const string ScoredManifest = "RSC";
    private const string LoadPolicyManifest = "LP";
    private const string PolicyLoadedManifest = "PL";
    private const string TrainOnStepManifest = "TS";
    private const string FetchPolicyManifest = "FP";
    private const string PolicySnapshotManifest = "PS";
    private const string PublishPolicyManifest = "PP";
    private const string PolicyAvailableManifest = "PA";
    private const string EvaluateManifest = "EP";
    private const string EvaluatedManifest = "PE";

    /// <inheritdoc />
    public override int Identifier => Id;

    /// <inheritdoc />
    public override string Manifest(object o) => o switch
    {
        Response => ResponseManifest,
        StoreResponses => StoreManifest,
        DrawCompensationBatch => DrawManifest,
        EvictStale => EvictManifest,
        ResponsesStored => StoredEventManifest,
        ResponsesDrawn => DrawnEventManifest,
        ResponsesEvicted => EvictedEventManifest,
        ResponsesAccepted => AcceptedManifest,
        CompensationDrawn => DrawnManifest,
        NotEnoughBuffered => NotEnoughManifest,
        StaleEvicted => StaleEvictedManifest,
        ReplayBufferSnapshot => SnapshotManifest,
        GetBufferStats => GetStatsManifest,
        BufferStats => StatsManifest,
        CheckpointCommitted => CheckpointCommittedManifest,
        RequestWork => RequestWorkManifest,
        LeaseGranted => LeaseGrantedManifest,
        LeaseCompleted => LeaseCompletedManifest,
        StepTrained => StepTrainedManifest,
        RunFailed => RunFailedManifest,
        GetRunStatus => GetRunStatusManifest,
        RunStatus => RunStatusManifest,
        StepOpened => StepOpenedManifest,
        VerifyRollouts => VerifyManifest,
        RolloutsScored => ScoredManifest,
        LoadPolicy => LoadPolicyManifest,
        PolicyLoaded => PolicyLoadedManifest,
        TrainOnStep => TrainOnStepManifest,
        FetchPolicy => FetchPolicyManifest,
        PolicySnapshot => PolicySnapshotManifest,
        PublishPolicy => PublishPolicyManifest,
        PolicyAvailable => PolicyAvailableManifest,
        EvaluatePolicy => EvaluateManifest,
        PolicyEvaluated => EvaluatedManifest,
        _ => throw new ArgumentException($"{nameof(RoRecompSerializer)} cannot serialize {o.GetType().FullName}", nameof(o)),
    };

    /// <inheritdoc />
    public override byte[] ToBinary(object obj)
    {
        var w = new Writer();
        w.Byte(FormatVersion);
        switch (obj)
        {
            case Response r: w.Response(r); break;
            case StoreResponses m: w.Responses(m.Responses); break;
            case DrawCompensationBatch m: w.Int(m.Size); w.Long(m.CurrentPolicyVersion); w.Long(m.Step); break;
            case EvictStale m: w.Long(m.CurrentPolicyVersion); break;
            case ResponsesStored e: w.Responses(e.Responses); break;
            case ResponsesDrawn e: w.Strings(e.Ids); w.Long(e.Step); break;
            case ResponsesEvicted e: w.Strings(e.Ids); w.Byte((byte)e.Reason); break;
            case ResponsesAccepted m: w.Int(m.Stored); w.Int(m.Duplicates); w.Int(m.Evicted); break;
            case CompensationDrawn m: w.Responses(m.Responses); w.Int(m.EvictedStale); break;
            case NotEnoughBuffered m: w.Int(m.Available); w.Int(m.Requested); w.Int(m.EvictedStale); break;
            case StaleEvicted m: w.Int(m.Count); break;
            case ReplayBufferSnapshot s:
                w.Responses(s.Entries); w.Long(s.DrawCount); w.Strings(s.RecentlySeenIds);
                w.Int(s.RecentDraws.IsDefault ? 0 : s.RecentDraws.Length);
                foreach (var d in s.RecentDraws.IsDefault ? [] : s.RecentDraws)
                {
                    w.Long(d.Step);
                    w.Responses(d.Responses);
                }
                break;
            case GetBufferStats m: w.Bool(m.IncludeIds); break;
            case BufferStats m: w.Int(m.Count); w.Strings(m.Ids); w.Long(m.LastSequenceNr); break;
            case CheckpointCommitted e: w.Checkpoint(e.Checkpoint); break;
            case RequestWork m: w.String(m.SamplerId); break;
            case LeaseGranted m: w.Lease(m.Lease); w.String(m.Task); break;
            case LeaseCompleted m: w.String(m.LeaseId); w.Long(m.Step); break;
            case StepTrained m: w.StepMetrics(m.Online); w.LearnerMetrics(m.Learner); w.NullableString(m.CheckpointPath); break;
            case RunFailed m: w.String(m.Reason); break;
            case GetRunStatus: break;
            case RunStatus m:
                w.Long(m.TrainedStep); w.Long(m.PolicyVersion); w.Long(m.Cursor); w.Int(m.QueuedLeases); w.Int(m.OutstandingLeases); w.Int(m.IdleSamplers);
                w.Int(m.Checkpoints.Length);
                foreach (var c in m.Checkpoints) w.Checkpoint(c);
                break;
            case StepOpened m: w.Long(m.Step); w.Long(m.PolicyVersion); w.Strings(m.PromptIds); break;
            case VerifyRollouts m: w.String(m.LeaseId); w.Long(m.Step); w.Groups(m.Groups); break;
            case RolloutsScored m: w.String(m.LeaseId); w.Long(m.Step); w.Groups(m.Groups); break;
            case LoadPolicy m:
                w.Int(m.Candidates.Length);
                foreach (var c in m.Candidates) w.Checkpoint(c);
                w.Long(m.TotalSteps);
                break;
            case PolicyLoaded m:
                w.Bool(m.From is not null);
                if (m.From is not null) w.Checkpoint(m.From);
                w.Long(m.PolicyVersion); w.Strings(m.Skipped);
                break;
            case TrainOnStep m: w.Batch(m.Priority); w.StepMetrics(m.Online); break;
            case FetchPolicy m: w.Long(m.MinVersion); break;
            case PolicySnapshot m: w.Long(m.Version); w.Array(ImmutableCollectionsMarshal.AsImmutableArray(m.Weights)); w.String(m.ModelConfigJson); break;
            case PublishPolicy m: w.Long(m.Version); w.Array(ImmutableCollectionsMarshal.AsImmutableArray(m.Weights)); w.String(m.ModelConfigJson); break;
            case PolicyAvailable m: w.Long(m.Version); w.String(m.Host); w.Int(m.Port); w.String(m.Sha256); w.Long(m.Bytes); w.String(m.ModelConfigJson); break;
            case EvaluatePolicy m: w.Long(m.Step); w.Long(m.MinVersion); break;
            case PolicyEvaluated { Evaluation: var e }: w.Long(e.Step); w.Double(e.Accuracy); w.Double(e.MeanLength); w.Double(e.ToolCalls); w.Double(e.FormatValid); w.Int(e.Responses); break;
            default: throw new ArgumentException($"{nameof(RoRecompSerializer)} cannot serialize {obj.GetType().FullName}", nameof(obj));
        }
        return w.ToArray();
    }

    /// <inheritdoc />
    public override object FromBinary(byte[] bytes, string manifest)
    {
        var r = new Reader(bytes);
        var version = r.Byte();
        if (version != FormatVersion)
            throw new SerializationException($"{nameof(RoRecompSerializer)}: format version {version} of manifest '{manifest}' is not supported (this build reads {FormatVersion})");
        object result = manifest switch
        {
            ResponseManifest => r.Response(),
            StoreManifest => new StoreResponses(r.Responses()),
            DrawManifest => new DrawCompensationBatch(r.Int(), r.Long(), r.Long()),
            EvictManifest => new EvictStale(r.Long()),
            StoredEventManifest => new ResponsesStored(r.Responses()),
            DrawnEventManifest => new ResponsesDrawn(r.Strings(), r.Long()),
            EvictedEventManifest => new ResponsesEvicted(r.Strings(), r.Reason()),
            AcceptedManifest => new ResponsesAccepted(r.Int(), r.Int(), r.Int()),
            DrawnManifest => new CompensationDrawn(r.Responses(), r.Int()),
            NotEnoughManifest => new NotEnoughBuffered(r.Int(), r.Int(), r.Int()),
            StaleEvictedManifest => new StaleEvicted(r.Int()),
            SnapshotManifest => new ReplayBufferSnapshot(r.Responses(), r.Long(), r.Strings(), r.AtEnd ? [] : r.DrawRecords()),
            GetStatsManifest => r.Bool() ? GetBufferStats.Instance : GetBufferStats.CountOnly,
            StatsManifest => new BufferStats(r.Int(), r.Strings(), r.Long()),
            CheckpointCommittedManifest => new CheckpointCommitted(r.Checkpoint()),
            RequestWorkManifest => new RequestWork(r.String()),
            LeaseGrantedManifest => new LeaseGranted(r.Lease(), r.String()),
            LeaseCompletedManifest => new LeaseCompleted(r.String(), r.Long()),
            StepTrainedManifest => new StepTrained(r.StepMetrics(), r.LearnerMetrics(), r.NullableString()),
            RunFailedManifest => new RunFailed(r.String()),
            GetRunStatusManifest => GetRunStatus.Instance,
            RunStatusManifest => new RunStatus(r.Long(), r.Long(), r.Long(), r.Int(), r.Int(), r.Int(), r.Checkpoints()),
            StepOpenedManifest => new StepOpened(r.Long(), r.Long(), r.Strings()),
            VerifyManifest => new VerifyRollouts(r.String(), r.Long(), r.Groups()),
            ScoredManifest => new RolloutsScored(r.String(), r.Long(), r.Groups()),
            LoadPolicyManifest => new LoadPolicy(r.Checkpoints(), r.Long()),
            PolicyLoadedManifest => new PolicyLoaded(r.Bool() ? r.Checkpoint() : null, r.Long(), r.Strings()),
            TrainOnStepManifest => new TrainOnStep(r.Batch(), r.StepMetrics()),
            FetchPolicyManifest => new FetchPolicy(r.Long()),
            PolicySnapshotManifest => new PolicySnapshot(r.Long(), ImmutableCollectionsMarshal.AsArray(r.Array<byte>()) ?? [], r.String()),
            PublishPolicyManifest => new PublishPolicy(r.Long(), ImmutableCollectionsMarshal.AsArray(r.Array<byte>()) ?? [], r.String()),
            PolicyAvailableManifest => new PolicyAvailable(r.Long(), r.String(), r.Int(), r.String(), r.Long(), r.String()),
            EvaluateManifest => new EvaluatePolicy(r.Long(), r.Long()),
            EvaluatedManifest => new PolicyEvaluated(new HeldOutEvaluation(r.Long(), r.Double(), r.Double(), r.Double(), r.Double(), r.Int())),
            _ => throw new SerializationException($"{nameof(RoRecompSerializer)}: unknown manifest '{manifest}'"),
        };
        if (!r.AtEnd)
            throw new SerializationException($"{nameof(RoRecompSerializer)}: {bytes.Length - r.Position} trailing bytes after manifest '{manifest}'");
        return result;
    }

    private sealed class Writer
    {
        private readonly MemoryStream _stream = new();
        private readonly byte[] _scratch = new byte[8];

        public byte[] ToArray() => _stream.ToArray();

        public void Byte(byte b) => _stream.WriteByte(b);

        public void Bool(bool b) => _stream.WriteByte(b ? (byte)1 : (byte)0);

        public void Int(int v)
        {
            BinaryPrimitives.WriteInt32LittleEndian(_scratch, v);
            _stream.Write(_scratch, 0, 4);
        }

        public void Long(long v)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_scratch, v);
            _stream.Write(_scratch, 0, 8);
        }

        public void Double(double v)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(_scratch, v);
            _stream.Write(_scratch, 0, 8);
        }

        public void String(string s)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            Int(bytes.Length);
            _stream.Write(bytes);
        }

        public void Strings(ImmutableArray<string> items)
        {
            Int(items.IsDefault ? -1 : items.Length);
            if (!items.IsDefault)
                foreach (var s in items)
                    String(s);
        }

        public void Array<T>(ImmutableArray<T> items)
            where T : unmanaged
        {
            Int(items.IsDefault ? -1 : items.Length);
            if (items.IsDefaultOrEmpty)
                return;
            var bytes = MemoryMarshal.AsBytes(items.AsSpan());
            if (BitConverter.IsLittleEndian || bytes.Length == items.Length)
            {
                _stream.Write(bytes);
                return;
            }
            throw new PlatformNotSupportedException("RoRecompSerializer writes raw little-endian arrays; big-endian hosts are not supported");
        }

        public void Response(Response r)
        {
            String(r.Id);
            String(r.PromptId);
            Int(r.SampleIndex);
            Long(r.Step);
            Long(r.PolicyVersion);
            Array(r.PromptTokens);
            Array(r.Tokens);
            Array(r.LogProbs);
            Double(r.Reward);
            Bool(r.Correct);
            Int(r.ToolCalls);
            Bool(r.FormatValid);
            Array(r.ActionMask);
        }

        public void Responses(ImmutableArray<Response> items)
        {
            Int(items.IsDefault ? -1 : items.Length);
            if (!items.IsDefault)
                foreach (var r in items)
                    Response(r);
        }

        public void NullableString(string? s)
        {
            Bool(s is not null);
            if (s is not null) String(s);
        }

        public void Checkpoint(RunCheckpoint c)
        {
            Long(c.Step);
            Long(c.Cursor);
            Long(c.PolicyVersion);
            String(c.Path);
        }

        public void Lease(WorkLease l)
        {
            String(l.LeaseId);
            Long(l.Step);
            Long(l.PolicyVersion);
            Array(l.PromptIndices);
            Int(l.SamplesPerPrompt);
            Long(l.Seed);
        }

        public void Groups(ImmutableArray<RolloutGroup> groups)
        {
            Int(groups.Length);
            foreach (var g in groups)
            {
                String(g.PromptId);
                Long(g.Step);
                Responses(g.Responses);
            }
        }

        public void Batch(TrainingBatch b)
        {
            Byte((byte)b.Kind);
            Double(b.Weight);
            Int(b.Count);
            foreach (var s in b.Samples.IsDefault ? [] : b.Samples)
            {
                Response(s.Response);
                Double(s.Advantage);
            }
        }

        public void StepMetrics(StepMetrics m)
        {
            Long(m.Step); Long(m.PolicyVersion); Int(m.Responses); Double(m.Accuracy); Double(m.MeanLength); Double(m.MeanLengthCorrect);
            Double(m.MeanToolCalls); Double(m.FormatValid); Int(m.PrioritySize); Int(m.CompensationSize); Int(m.ShortCorrect);
            Int(m.LongIncorrect); Int(m.BufferSize); Long(m.MinPolicyVersion);
        }

        public void LearnerMetrics(LearnerMetrics m)
        {
            Double(m.Loss); Double(m.Entropy); Double(m.ClipFraction); Double(m.ApproxKl); Double(m.GradNorm); Double(m.LearningRate);
            Double(m.CompensationLoss); Double(m.CompensationWeight); Double(m.TrainSeconds);
        }
    }

    private sealed class Reader(byte[] bytes)
    {
        public int Position { get; private set; }

        public bool AtEnd => Position == bytes.Length;

        private ReadOnlySpan<byte> Take(int n)
        {
            if (n < 0 || Position + n > bytes.Length)
                throw new SerializationException($"{nameof(RoRecompSerializer)}: truncated message ({n} bytes wanted at offset {Position} of {bytes.Length})");
            var span = bytes.AsSpan(Position, n);
            Position += n;
            return span;
        }

        public byte Byte() => Take(1)[0];

        public bool Bool() => Byte() != 0;

        public EvictionReason Reason()
        {
            var b = Byte();
            return Enum.IsDefined(typeof(EvictionReason), (int)b)
                ? (EvictionReason)b
                : throw new SerializationException($"{nameof(RoRecompSerializer)}: unknown eviction reason {b}");
        }

        public int Int() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

        public long Long() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

        public double Double() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));

        public string String() => Encoding.UTF8.GetString(Take(Int()));

        public ImmutableArray<string> Strings()
        {
            var n = Int();
            if (n < 0)
                return default;
            var b = ImmutableArray.CreateBuilder<string>(n);
            for (var i = 0; i < n; i++)
                b.Add(String());
            return b.MoveToImmutable();
        }

        public ImmutableArray<T> Array<T>()
            where T : unmanaged
        {
            var n = Int();
            if (n < 0)
                return default;
            var size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
            if (!BitConverter.IsLittleEndian && size > 1)
                throw new PlatformNotSupportedException("RoRecompSerializer reads raw little-endian arrays; big-endian hosts are not supported");
            var items = MemoryMarshal.Cast<byte, T>(Take(checked(n * size))).ToArray();
            return ImmutableCollectionsMarshal.AsImmutableArray(items);
        }

        public Response Response() => new(
            Id: String(),
            PromptId: String(),
            SampleIndex: Int(),
            Step: Long(),
            PolicyVersion: Long(),
            PromptTokens: Array<int>(),
            Tokens: Array<int>(),
            LogProbs: Array<float>(),
            Reward: Double(),
            Correct: Bool(),
            ToolCalls: Int(),
            FormatValid: Bool(),
            ActionMask: Array<bool>());

        public ImmutableArray<Response> Responses()
        {
            var n = Int();
            if (n < 0)
                return default;
            var b = ImmutableArray.CreateBuilder<Response>(n);
            for (var i = 0; i < n; i++)
                b.Add(Response());
            return b.MoveToImmutable();
        }

        public string? NullableString() => Bool() ? String() : null;

        public ImmutableArray<DrawRecord> DrawRecords()
        {
            var n = Count();
            var b = ImmutableArray.CreateBuilder<DrawRecord>(n);
            for (var i = 0; i < n; i++)
                b.Add(new DrawRecord(Long(), Responses()));
            return b.MoveToImmutable();
        }

        public RunCheckpoint Checkpoint() => new(Long(), Long(), Long(), String());

        public ImmutableArray<RunCheckpoint> Checkpoints()
        {
            var n = Count();
            var b = ImmutableArray.CreateBuilder<RunCheckpoint>(n);
            for (var i = 0; i < n; i++)
                b.Add(Checkpoint());
            return b.MoveToImmutable();
        }

        public WorkLease Lease() => new(String(), Long(), Long(), Array<long>(), Int(), Long());

        public ImmutableArray<RolloutGroup> Groups()
        {
            var n = Count();
            var b = ImmutableArray.CreateBuilder<RolloutGroup>(n);
            for (var i = 0; i < n; i++)
                b.Add(new RolloutGroup(String(), Long(), Responses()));
            return b.MoveToImmutable();
        }

        public TrainingBatch Batch()
        {
            var kindByte = Byte();
            if (!Enum.IsDefined(typeof(BatchKind), (int)kindByte))
                throw new SerializationException($"{nameof(RoRecompSerializer)}: unknown batch kind {kindByte}");
            var weight = Double();
            var n = Count();
            var b = ImmutableArray.CreateBuilder<TrainSample>(n);
            for (var i = 0; i < n; i++)
                b.Add(new TrainSample(Response(), Double()));
            return new TrainingBatch((BatchKind)kindByte, b.MoveToImmutable(), weight);
        }

        public StepMetrics StepMetrics() => new(
            Long(), Long(), Int(), Double(), Double(), Double(), Double(), Double(), Int(), Int(), Int(), Int(), Int(), Long());

        public LearnerMetrics LearnerMetrics() => new(Double(), Double(), Double(), Double(), Double(), Double(), Double(), Double(), Double());

        private int Count()
        {
            var n = Int();
            return n >= 0 && n <= bytes.Length - Position
                ? n
                : throw new SerializationException($"{nameof(RoRecompSerializer)}: bad element count {n} at offset {Position - 4}");
        }
    }
}
