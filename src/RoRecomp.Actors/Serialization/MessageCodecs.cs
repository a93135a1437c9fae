using System.Collections.Frozen;
using System.Runtime.InteropServices;
using RoRecomp.Actors.Protocols;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Metrics;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;
using RoRecomp.Core.Training;
using RoRecomp.Training.Steps;

namespace RoRecomp.Actors.Serialization;

/// <summary>
/// The one table of every type <see cref="RoRecompSerializer"/> handles: manifest, type version, and each field's
/// number beside how it is written and read. Adding a type is one <see cref="Add{T}"/> line (plus its binding in
/// <see cref="SerializationHocon"/> when it is not an <see cref="IRoRecompMessage"/>).
/// <para>
/// Evolving a type: a new field takes a new number and is read with a default (<c>r.Long(n, name, orDefault)</c>), so
/// data written before it still reads; a removed field's number is never reused; reordering fields changes nothing on
/// the wire, and readers pass constructor arguments by name, so reordering a record's parameters cannot swap two values
/// of one type either. Bump the type version only when a field keeps its number but changes meaning, and branch on
/// <see cref="TaggedReader.Version"/>. Manifests are stored in journals: never change one.
/// </para>
/// </summary>
internal static class MessageCodecs
{
    /// <summary>A generated response and its token-level data (token ids, log-probs, mask stay raw little-endian arrays).</summary>
    public static readonly Part<Response> Response = new(
        (w, r) => w.String(1, r.Id).String(2, r.PromptId).Int(3, r.SampleIndex).Long(4, r.Step).Long(5, r.PolicyVersion)
            .Array(6, r.PromptTokens).Array(7, r.Tokens).Array(8, r.LogProbs).Double(9, r.Reward).Bool(10, r.Correct)
            .Int(11, r.ToolCalls).Bool(12, r.FormatValid).Array(13, r.ActionMask),
        r => new(
            Id: r.String(1, "Id"),
            PromptId: r.String(2, "PromptId"),
            SampleIndex: r.Int(3, "SampleIndex"),
            Step: r.Long(4, "Step"),
            PolicyVersion: r.Long(5, "PolicyVersion"),
            PromptTokens: r.Array<int>(6, "PromptTokens"),
            Tokens: r.Array<int>(7, "Tokens"),
            LogProbs: r.Array<float>(8, "LogProbs"),
            Reward: r.Double(9, "Reward"),
            Correct: r.Bool(10, "Correct"),
            ToolCalls: r.Int(11, "ToolCalls"),
            FormatValid: r.Bool(12, "FormatValid"),
            ActionMask: r.Array<bool>(13, "ActionMask")));

    /// <summary>A committed checkpoint.</summary>
    public static readonly Part<RunCheckpoint> Checkpoint = new(
        (w, c) => w.Long(1, c.Step).Long(2, c.Cursor).Long(3, c.PolicyVersion).String(4, c.Path),
        r => new(Step: r.Long(1, "Step"), Cursor: r.Long(2, "Cursor"), PolicyVersion: r.Long(3, "PolicyVersion"), Path: r.String(4, "Path")));

    /// <summary>The responses drawn at one step (in a replay-buffer snapshot).</summary>
    public static readonly Part<DrawRecord> Draw = new(
        (w, d) => w.Long(1, d.Step).Messages(2, d.Responses, Response),
        r => new(Step: r.Long(1, "Step"), Responses: r.Messages(2, "Responses", Response)));

    /// <summary>A replay-buffer event kept in a snapshot's rewind history (a kind tag, then its fields).</summary>
    public static readonly Part<IReplayBufferEvent> BufferEvent = new(
        (w, e) =>
        {
            switch (e)
            {
                case ResponsesStored s: w.String(1, "ST").Long(2, s.Step).Messages(3, s.Responses, Response); break;
                case ResponsesDrawn d: w.String(1, "DR").Long(2, d.Step).Strings(4, d.Ids); break;
                case ResponsesEvicted v: w.String(1, "EV").Long(2, v.Step).Strings(4, v.Ids).Enum(5, v.Reason); break;
                default: throw new ArgumentException($"a {e.GetType().Name} is not kept in a snapshot's history", nameof(e));
            }
        },
        r => r.String(1, "Kind") switch
        {
            "ST" => new ResponsesStored(r.Messages(3, "Responses", Response), r.Long(2, "Step", 0)),
            "DR" => new ResponsesDrawn(r.Strings(4, "Ids"), r.Long(2, "Step", 0)),
            "EV" => new ResponsesEvicted(r.Strings(4, "Ids"), r.Enum<EvictionReason>(5, "Reason"), r.Long(2, "Step", 0)),
            var kind => throw new System.Runtime.Serialization.SerializationException($"unknown replay-buffer event kind '{kind}' in a snapshot"),
        });

    /// <summary>A work lease.</summary>
    public static readonly Part<WorkLease> Lease = new(
        (w, l) => w.String(1, l.LeaseId).Long(2, l.Step).Long(3, l.PolicyVersion).Array(4, l.PromptIndices).Int(5, l.SamplesPerPrompt)
            .Long(6, l.Seed),
        r => new(
            LeaseId: r.String(1, "LeaseId"),
            Step: r.Long(2, "Step"),
            PolicyVersion: r.Long(3, "PolicyVersion"),
            PromptIndices: r.Array<long>(4, "PromptIndices"),
            SamplesPerPrompt: r.Int(5, "SamplesPerPrompt"),
            Seed: r.Long(6, "Seed")));

    /// <summary>A GRPO group.</summary>
    public static readonly Part<RolloutGroup> Group = new(
        (w, g) => w.String(1, g.PromptId).Long(2, g.Step).Messages(3, g.Responses, Response),
        r => new(PromptId: r.String(1, "PromptId"), Step: r.Long(2, "Step"), Responses: r.Messages(3, "Responses", Response)));

    /// <summary>A response with its advantage.</summary>
    public static readonly Part<TrainSample> Sample = new(
        (w, s) => w.Message(1, s.Response, Response).Double(2, s.Advantage),
        r => new(Response: r.Message(1, "Response", Response), Advantage: r.Double(2, "Advantage")));

    /// <summary>A training batch.</summary>
    public static readonly Part<TrainingBatch> Batch = new(
        (w, b) => w.Enum(1, b.Kind).Messages(2, b.Samples, Sample).Double(3, b.Weight),
        r => new(Kind: r.Enum<BatchKind>(1, "Kind"), Samples: r.Messages(2, "Samples", Sample), Weight: r.Double(3, "Weight")));

    /// <summary>A step's online-batch metrics.</summary>
    public static readonly Part<StepMetrics> Metrics = new(
        (w, m) => w.Long(1, m.Step).Long(2, m.PolicyVersion).Int(3, m.Responses).Double(4, m.Accuracy).Double(5, m.MeanLength)
            .Double(6, m.MeanLengthCorrect).Double(7, m.MeanToolCalls).Double(8, m.FormatValid).Int(9, m.PrioritySize)
            .Int(10, m.CompensationSize).Int(11, m.ShortCorrect).Int(12, m.LongIncorrect).Int(13, m.BufferSize).Long(14, m.MinPolicyVersion),
        r => new(
            Step: r.Long(1, "Step"),
            PolicyVersion: r.Long(2, "PolicyVersion"),
            Responses: r.Int(3, "Responses"),
            Accuracy: r.Double(4, "Accuracy"),
            MeanLength: r.Double(5, "MeanLength"),
            MeanLengthCorrect: r.Double(6, "MeanLengthCorrect"),
            MeanToolCalls: r.Double(7, "MeanToolCalls"),
            FormatValid: r.Double(8, "FormatValid"),
            PrioritySize: r.Int(9, "PrioritySize"),
            CompensationSize: r.Int(10, "CompensationSize"),
            ShortCorrect: r.Int(11, "ShortCorrect"),
            LongIncorrect: r.Int(12, "LongIncorrect"),
            BufferSize: r.Int(13, "BufferSize"),
            MinPolicyVersion: r.Long(14, "MinPolicyVersion")));

    /// <summary>A learner update's metrics.</summary>
    public static readonly Part<LearnerMetrics> Learner = new(
        (w, m) => w.Double(1, m.Loss).Double(2, m.Entropy).Double(3, m.ClipFraction).Double(4, m.ApproxKl).Double(5, m.GradNorm)
            .Double(6, m.LearningRate).Double(7, m.CompensationLoss).Double(8, m.CompensationWeight).Double(9, m.TrainSeconds),
        r => new(
            Loss: r.Double(1, "Loss"),
            Entropy: r.Double(2, "Entropy"),
            ClipFraction: r.Double(3, "ClipFraction"),
            ApproxKl: r.Double(4, "ApproxKl"),
            GradNorm: r.Double(5, "GradNorm"),
            LearningRate: r.Double(6, "LearningRate"),
            CompensationLoss: r.Double(7, "CompensationLoss"),
            CompensationWeight: r.Double(8, "CompensationWeight"),
            TrainSeconds: r.Double(9, "TrainSeconds")));

    /// <summary>Held-out evaluation figures.</summary>
    public static readonly Part<HeldOutEvaluation> Evaluation = new(
        (w, e) => w.Long(1, e.Step).Double(2, e.Accuracy).Double(3, e.MeanLength).Double(4, e.ToolCalls).Double(5, e.FormatValid).Int(6, e.Responses)
            .Double(7, e.UnnecessaryToolCalls),
        r => new(
            Step: r.Long(1, "Step"),
            Accuracy: r.Double(2, "Accuracy"),
            MeanLength: r.Double(3, "MeanLength"),
            ToolCalls: r.Double(4, "ToolCalls"),
            FormatValid: r.Double(5, "FormatValid"),
            Responses: r.Int(6, "Responses"),
            UnnecessaryToolCalls: r.NullableDouble(7, "UnnecessaryToolCalls")));

    /// <summary>A replay-buffer snapshot (entries, draw counter, recently seen ids, recent draws, rewind history).</summary>
    public static readonly Part<ReplayBufferSnapshot> Snapshot = new(
        (w, s) => w.Messages(1, s.Entries, Response).Long(2, s.DrawCount).Strings(3, s.RecentlySeenIds).Messages(4, s.RecentDraws, Draw)
            .Messages(5, s.Since, BufferEvent).Long(6, s.BaseStep),
        r => new(
            Entries: r.Messages(1, "Entries", Response),
            DrawCount: r.Long(2, "DrawCount"),
            RecentlySeenIds: r.Strings(3, "RecentlySeenIds"),
            RecentDraws: r.Messages(4, "RecentDraws", Draw),
            Since: r.Messages(5, "Since", BufferEvent),
            BaseStep: r.Long(6, "BaseStep", 0)));

    /// <summary>Every registered type.</summary>
    public static readonly IReadOnlyList<Codec> All =
    [
        // Journaled (E-*) and snapshotted (S-*): these also read format 1.
        Add<ResponsesStored>(
            "E-ST",
            1,
            (w, m) => w.Messages(1, m.Responses, Response).Long(2, m.Step),
            r => new(r.Messages(1, "Responses", Response), r.Long(2, "Step", 0)),
            v1 => new(v1.Responses())),
        Add<ResponsesDrawn>(
            "E-DR",
            1,
            (w, m) => w.Strings(1, m.Ids).Long(2, m.Step),
            r => new(Ids: r.Strings(1, "Ids"), Step: r.Long(2, "Step")),
            v1 => new(Ids: v1.Strings(), Step: v1.Long())),
        Add<ResponsesEvicted>(
            "E-EV",
            1,
            (w, m) => w.Strings(1, m.Ids).Enum(2, m.Reason).Long(3, m.Step),
            r => new(Ids: r.Strings(1, "Ids"), Reason: r.Enum<EvictionReason>(2, "Reason"), Step: r.Long(3, "Step", 0)),
            v1 => new(Ids: v1.Strings(), Reason: v1.Reason())),
        new Codec<ReplayBufferSnapshot>(
            "S-RB",
            1,
            Snapshot,
            v1 => new(Entries: v1.Responses(), DrawCount: v1.Long(), RecentlySeenIds: v1.Strings(), RecentDraws: v1.DrawRecordsIfAny())),
        // The same two when the responses' arrays live in the replay buffer's body store (ResponseBodyStore).
        Add<ResponsesStoredApart>(
            "E-SA",
            1,
            (w, m) => w.Messages(1, m.Headers, Response).Long(2, m.Step),
            r => new(Headers: r.Messages(1, "Headers", Response), Step: r.Long(2, "Step"))),
        Add<ReplayBufferSnapshotApart>("S-RA", 1, (w, m) => w.Message(1, m.Headers, Snapshot), r => new(r.Message(1, "Headers", Snapshot))),
        Add<BufferRewound>("E-RW", 1, (w, e) => w.Long(1, e.Step), r => new(r.Long(1, "Step"))),
        Add<CheckpointCommitted>(
            "E-CC",
            1,
            (w, e) => w.Message(1, e.Checkpoint, Checkpoint),
            r => new(r.Message(1, "Checkpoint", Checkpoint)),
            v1 => new(v1.Checkpoint())),

        // Replay buffer commands, replies and queries.
        Add<Response>("R", 1, Response.Write, Response.Read),
        Add<StoreResponses>("SR", 1, (w, m) => w.Messages(1, m.Responses, Response).Long(2, m.Step), r => new(r.Messages(1, "Responses", Response), r.Long(2, "Step", 0))),
        Add<DrawCompensationBatch>(
            "DCB",
            1,
            (w, m) => w.Int(1, m.Size).Long(2, m.CurrentPolicyVersion).Long(3, m.Step),
            r => new(Size: r.Int(1, "Size"), CurrentPolicyVersion: r.Long(2, "CurrentPolicyVersion"), Step: r.Long(3, "Step"))),
        Add<EvictStale>("ES", 1, (w, m) => w.Long(1, m.CurrentPolicyVersion).Long(2, m.Step), r => new(r.Long(1, "CurrentPolicyVersion"), r.Long(2, "Step", 0))),
        Add<RewindTo>("RWT", 1, (w, m) => w.Long(1, m.Step), r => new(r.Long(1, "Step"))),
        Add<Rewound>(
            "RWD",
            1,
            (w, m) => w.Long(1, m.Step).Int(2, m.Undone).Int(3, m.Count),
            r => new(Step: r.Long(1, "Step"), Undone: r.Int(2, "Undone"), Count: r.Int(3, "Count"))),
        Add<CannotRewind>("CRW", 1, (w, m) => w.Long(1, m.Step).Long(2, m.Oldest), r => new(Step: r.Long(1, "Step"), Oldest: r.Long(2, "Oldest"))),
        Add<ResponsesAccepted>(
            "RA",
            1,
            (w, m) => w.Int(1, m.Stored).Int(2, m.Duplicates).Int(3, m.Evicted),
            r => new(Stored: r.Int(1, "Stored"), Duplicates: r.Int(2, "Duplicates"), Evicted: r.Int(3, "Evicted"))),
        Add<CompensationDrawn>(
            "CD",
            1,
            (w, m) => w.Messages(1, m.Responses, Response).Int(2, m.EvictedStale),
            r => new(Responses: r.Messages(1, "Responses", Response), EvictedStale: r.Int(2, "EvictedStale"))),
        Add<NotEnoughBuffered>(
            "NE",
            1,
            (w, m) => w.Int(1, m.Available).Int(2, m.Requested).Int(3, m.EvictedStale),
            r => new(Available: r.Int(1, "Available"), Requested: r.Int(2, "Requested"), EvictedStale: r.Int(3, "EvictedStale"))),
        Add<StaleEvicted>("SEV", 1, (w, m) => w.Int(1, m.Count), r => new(r.Int(1, "Count"))),
        Add<GetBufferStats>(
            "GBS",
            1,
            (w, m) => w.Bool(1, m.IncludeIds),
            r => r.Bool(1, "IncludeIds") ? GetBufferStats.Instance : GetBufferStats.CountOnly),
        Add<BufferStats>(
            "BS",
            1,
            (w, m) => w.Int(1, m.Count).Strings(2, m.Ids).Long(3, m.LastSequenceNr).Bool(4, m.Compacting),
            r => new(Count: r.Int(1, "Count"), Ids: r.Strings(2, "Ids"), LastSequenceNr: r.Long(3, "LastSequenceNr"), Compacting: r.Bool(4, "Compacting", false))),

        // Run coordinator.
        Add<RequestWork>(
            "RW",
            1,
            (w, m) => w.String(1, m.SamplerId).String(2, m.RunKeys),
            r => new(SamplerId: r.String(1, "SamplerId"), RunKeys: r.NullableString(2, "RunKeys") ?? "")),
        Add<WorkRefused>(
            "WR",
            1,
            (w, m) => w.String(1, m.Reason).String(2, m.RunKeys),
            r => new(Reason: r.String(1, "Reason"), RunKeys: r.String(2, "RunKeys"))),
        Add<RunEnded>(
            "RE",
            1,
            (w, m) => w.Bool(1, m.Finished).String(2, m.Reason),
            r => new(Finished: r.Bool(1, "Finished"), Reason: r.String(2, "Reason"))),
        Add<LeaseGranted>(
            "LG",
            1,
            (w, m) => w.Message(1, m.Lease, Lease).String(2, m.Task),
            r => new(Lease: r.Message(1, "Lease", Lease), Task: r.String(2, "Task"))),
        Add<LeaseCompleted>(
            "LC",
            1,
            (w, m) => w.String(1, m.LeaseId).Long(2, m.Step),
            r => new(LeaseId: r.String(1, "LeaseId"), Step: r.Long(2, "Step"))),
        Add<RunFailed>("RF", 1, (w, m) => w.String(1, m.Reason), r => new(r.String(1, "Reason"))),
        Add<GetRunStatus>("GRS", 1, (_, _) => { }, _ => GetRunStatus.Instance),
        Add<RunStatus>(
            "RS",
            1,
            (w, m) => w.Long(1, m.TrainedStep).Long(2, m.PolicyVersion).Long(3, m.Cursor).Int(4, m.QueuedLeases).Int(5, m.OutstandingLeases)
                .Int(6, m.IdleSamplers).Messages(7, m.Checkpoints, Checkpoint),
            r => new(
                TrainedStep: r.Long(1, "TrainedStep"),
                PolicyVersion: r.Long(2, "PolicyVersion"),
                Cursor: r.Long(3, "Cursor"),
                QueuedLeases: r.Int(4, "QueuedLeases"),
                OutstandingLeases: r.Int(5, "OutstandingLeases"),
                IdleSamplers: r.Int(6, "IdleSamplers"),
                Checkpoints: r.Messages(7, "Checkpoints", Checkpoint))),

        // Recomposer, verifier, learner, evaluator.
        Add<StepOpened>(
            "SO",
            1,
            (w, m) => w.Long(1, m.Step).Long(2, m.PolicyVersion).Strings(3, m.PromptIds),
            r => new(Step: r.Long(1, "Step"), PolicyVersion: r.Long(2, "PolicyVersion"), PromptIds: r.Strings(3, "PromptIds"))),
        Add<VerifyRollouts>(
            "VR",
            1,
            (w, m) => w.String(1, m.LeaseId).Long(2, m.Step).Messages(3, m.Groups, Group),
            r => new(LeaseId: r.String(1, "LeaseId"), Step: r.Long(2, "Step"), Groups: r.Messages(3, "Groups", Group))),
        Add<RolloutsScored>(
            "RSC",
            1,
            (w, m) => w.String(1, m.LeaseId).Long(2, m.Step).Messages(3, m.Groups, Group),
            r => new(LeaseId: r.String(1, "LeaseId"), Step: r.Long(2, "Step"), Groups: r.Messages(3, "Groups", Group))),
        Add<LoadPolicy>(
            "LP",
            1,
            (w, m) => w.Messages(1, m.Candidates, Checkpoint).Long(2, m.TotalSteps),
            r => new(Candidates: r.Messages(1, "Candidates", Checkpoint), TotalSteps: r.Long(2, "TotalSteps"))),
        Add<PolicyLoaded>(
            "PL",
            1,
            (w, m) => w.Message(1, m.From, Checkpoint).Long(2, m.PolicyVersion).Strings(3, m.Skipped),
            r => new(From: r.OptionalMessage(1, "From", Checkpoint), PolicyVersion: r.Long(2, "PolicyVersion"), Skipped: r.Strings(3, "Skipped"))),
        Add<TrainOnStep>(
            "TS",
            1,
            (w, m) => w.Message(1, m.Priority, Batch).Message(2, m.Online, Metrics),
            r => new(Priority: r.Message(1, "Priority", Batch), Online: r.Message(2, "Online", Metrics))),
        Add<StepTrained>(
            "ST",
            1,
            (w, m) => w.Message(1, m.Online, Metrics).Message(2, m.Learner, Learner).String(3, m.CheckpointPath),
            r => new(
                Online: r.Message(1, "Online", Metrics),
                Learner: r.Message(2, "Learner", Learner),
                CheckpointPath: r.NullableString(3, "CheckpointPath"))),
        Add<EvaluatePolicy>(
            "EP",
            1,
            (w, m) => w.Long(1, m.Step).Long(2, m.MinVersion),
            r => new(Step: r.Long(1, "Step"), MinVersion: r.Long(2, "MinVersion"))),
        Add<PolicyEvaluated>("PE", 1, (w, m) => w.Message(1, m.Evaluation, Evaluation), r => new(r.Message(1, "Evaluation", Evaluation))),

        // Policy publisher.
        Add<FetchPolicy>(
            "FP",
            1,
            (w, m) => w.Long(1, m.MinVersion).String(2, m.RelayHost).Int(3, m.RelayPort),
            r => new(MinVersion: r.Long(1, "MinVersion"), RelayHost: r.NullableString(2, "RelayHost"), RelayPort: r.Int(3, "RelayPort", 0))),
        Add<PublishPolicy>(
            "PP",
            1,
            (w, m) => w.Long(1, m.Version).Array<byte>(2, m.Weights).String(3, m.ModelConfigJson),
            r => new(Version: r.Long(1, "Version"), Weights: Bytes(r, 2, "Weights"), ModelConfigJson: r.String(3, "ModelConfigJson"))),
        Add<PolicySnapshot>(
            "PS",
            1,
            (w, m) => w.Long(1, m.Version).Array<byte>(2, m.Weights).String(3, m.ModelConfigJson),
            r => new(Version: r.Long(1, "Version"), Weights: Bytes(r, 2, "Weights"), ModelConfigJson: r.String(3, "ModelConfigJson"))),
        Add<PolicyAvailable>(
            "PA",
            1,
            // Field 4 (the whole blob's SHA-256) was replaced by 7 (the manifest digest) with wire protocol 2: never reuse 4.
            // Field 9, the weight servers' credential (hex), was added after 8 and reads as "" when absent.
            (w, m) => w.Long(1, m.Version).String(2, m.Host).Int(3, m.Port).Long(5, m.Bytes).String(6, m.ModelConfigJson).String(7, m.Digest)
                .Strings(8, m.Relays).String(9, m.Credential),
            r => new(
                Version: r.Long(1, "Version"),
                Host: r.String(2, "Host"),
                Port: r.Int(3, "Port"),
                Digest: r.String(7, "Digest"),
                Bytes: r.Long(5, "Bytes"),
                ModelConfigJson: r.String(6, "ModelConfigJson"),
                Relays: r.Strings(8, "Relays"),
                Credential: r.NullableString(9, "Credential") ?? "")),
    ];

    /// <summary>Codecs by manifest.</summary>
    public static readonly FrozenDictionary<string, Codec> ByManifest = All.ToFrozenDictionary(c => c.Manifest, StringComparer.Ordinal);

    /// <summary>Codecs by exact type.</summary>
    public static readonly FrozenDictionary<Type, Codec> ByType = All.ToFrozenDictionary(c => c.Type);

    private static Codec<T> Add<T>(string manifest, int version, Action<TaggedWriter, T> write, Func<TaggedReader, T> read, Func<V1Reader, T>? v1 = null)
        where T : class => new(manifest, version, new Part<T>(write, read), v1);

    private static byte[] Bytes(TaggedReader r, int field, string name) => ImmutableCollectionsMarshal.AsArray(r.Array<byte>(field, name)) ?? [];
}
