using System.Collections.Immutable;

namespace RoRecomp.Settings;

/// <summary>All <c>rorecomp.*</c> settings of a run, one immutable record per HOCON section (see hocon/reference.conf).</summary>
public sealed record RoRecompSettings(
    RunSettings Run,
    WarmStartSettings WarmStart,
    SamplingSettings Sampling,
    ModelSettings Model,
    AlgorithmSettings Algorithm,
    RewardSettings Reward,
    PolicyLossSettings PolicyLoss,
    RecompositionSettings Recomposition,
    CompensationSettings Compensation,
    BufferSettings Buffer,
    AsyncSettings Async,
    PersistenceSettings Persistence,
    CheckpointSettings Checkpoint,
    ClusterSettings Cluster);

/// <summary>
/// <c>rorecomp.run</c>: where the run lives, how long it runs and the online batch shape (B x G); <paramref name="TensorBoard"/>
/// writes TensorBoard event files beside <c>metrics.jsonl</c>.
/// </summary>
public sealed record RunSettings(
    string RunDir, int Seed, int Steps, string Task, int PromptsPerStep, int SamplesPerPrompt, int EvalEvery, int EvalSize,
    int LeaseSize, int LeaseTimeoutSeconds, bool TensorBoard);

/// <summary><c>rorecomp.warm-start</c>: the SFT run <c>train</c> does first when the run has no warm-start checkpoint.</summary>
public sealed record WarmStartSettings(int Steps, int BatchSize, double Lr, double TargetAccuracy);

/// <summary><c>rorecomp.sampling</c>: decoding parameters of the samplers.</summary>
public sealed record SamplingSettings(double Temperature, double TopP, int TopK, int MaxNewTokens, int Samplers);

/// <summary><c>rorecomp.model</c>: which model to build and where to warm-start it from ("" = none).</summary>
/// <param name="Preset">Model preset name.</param>
/// <param name="Checkpoint">Warm-start checkpoint path ("" = the run's own SFT warm start).</param>
/// <param name="Attention"><c>eager</c> (the hand-written attention, bit-for-bit the seeded results) or <c>sdpa</c> (libtorch's fused scaled_dot_product_attention: equal within float rounding, faster, the fused kernel on GPUs).</param>
public sealed record ModelSettings(string Preset, string Checkpoint, string Attention = "eager");

/// <summary><c>rorecomp.algorithm</c>: the advantage estimator (a name of Core's <c>AdvantageEstimators</c> registry) and its epsilon (&gt; 0).</summary>
public sealed record AlgorithmSettings(string AdvantageEstimator, double Eps);

/// <summary><c>rorecomp.reward</c>: L1-style length penalty on correct responses (0 = off); see <c>RoRecomp.Core.Rewards.RewardShaping</c>.</summary>
public sealed record RewardSettings(double LengthPenalty, int TargetLength);

/// <summary><c>rorecomp.policy-loss</c>: clipped-surrogate loss and optimizer settings of the learner.</summary>
/// <param name="MaxTokensPerMicroBatch">Padded tokens per micro-batch (0 = split by <paramref name="MicroBatchSize"/> sequences); the update does not depend on the split.</param>
/// <param name="ActivationCheckpointing">Recompute each transformer layer's activations in backward (less memory, about 1.3-1.6x the training time).</param>
public sealed record PolicyLossSettings(
    double ClipEpsLow, double ClipEpsHigh, string LossAggMode, double KlCoef, double Lr, int WarmupSteps,
    double WeightDecay, double GradClip, int MicroBatchSize, int MaxTokensPerMicroBatch = 0, bool ActivationCheckpointing = false);

/// <summary><c>rorecomp.recomposition</c>: how the online batch is split into priority and compensation batches.</summary>
public sealed record RecompositionSettings(bool Enabled, string Scope, double PriorityFraction, string LengthKey, string AdvantageScope);

/// <summary><c>rorecomp.compensation</c>: when and how compensation batches are drawn from the replay buffer.</summary>
public sealed record CompensationSettings(int Every, int BatchSize, string WeightSchedule, double WeightStart, double WeightEnd, string DrawOrder);

/// <summary><c>rorecomp.buffer</c>: replay buffer bounds and snapshot cadence.</summary>
public sealed record BufferSettings(int Capacity, int MaxStaleness, int SnapshotEvery);

/// <summary><c>rorecomp.async</c>: how far samplers may lag behind the learner's policy.</summary>
public sealed record AsyncSettings(int MaxPolicyLag);

/// <summary><c>rorecomp.persistence</c>: the journal/snapshot store (SQLite file in the run dir, or PostgreSQL).</summary>
/// <param name="Provider"><c>sqlite</c> or <c>postgresql</c>.</param>
/// <param name="ConnectionString">Explicit connection string ("" = derived from <paramref name="SqlitePath"/> for SQLite).</param>
/// <param name="SqlitePath">SQLite file ("" = <c>&lt;run-dir&gt;/journal.db</c>).</param>
/// <param name="RunId">Names this run's journal rows ("" = derived from the run directory); see <see cref="Persistence.PersistenceHocon.PersistenceId"/>.</param>
public sealed record PersistenceSettings(string Provider, string ConnectionString, string SqlitePath, string RunId = "")
{
    /// <summary>The SQLite provider (the default: a file in the run directory).</summary>
    public const string Sqlite = "sqlite";

    /// <summary>The PostgreSQL provider (needs a connection string).</summary>
    public const string PostgreSql = "postgresql";

    /// <summary>The journal providers <c>rorecomp.persistence.provider</c> may name.</summary>
    public static readonly IReadOnlyList<string> Providers = [Sqlite, PostgreSql];
}

/// <summary><c>rorecomp.checkpoint</c>: checkpoint cadence and retention.</summary>
public sealed record CheckpointSettings(int Every, int KeepLast);

/// <summary><c>rorecomp.cluster</c>: this node's roles and Akka.Remote address; no seed nodes means the node joins itself.</summary>
public sealed record ClusterSettings(ImmutableArray<string> Roles, string Hostname, int Port, ImmutableArray<string> SeedNodes, int StableAfterSeconds, int WeightsPort)
{
    /// <summary>The roles a node can have.</summary>
    public static readonly ImmutableArray<string> KnownRoles = ["learner", "sampler", "verifier", "buffer"];

    /// <summary>Whether this node has <paramref name="role"/>.</summary>
    public bool Has(string role) => Roles.Contains(role);
}
