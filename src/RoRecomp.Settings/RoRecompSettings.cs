using System.Collections.Immutable;

namespace RoRecomp.Settings;

/// <summary>All <c>rorecomp.*</c> settings of a run, one immutable record per HOCON section (see hocon/reference.conf).</summary>
public sealed record RoRecompSettings(
    RunSettings Run,
    WarmStartSettings WarmStart,
    SamplingSettings Sampling,
    ModelSettings Model,
    TaskDataSettings TaskData,
    AlgorithmSettings Algorithm,
    RewardSettings Reward,
    PolicyLossSettings PolicyLoss,
    RecompositionSettings Recomposition,
    CompensationSettings Compensation,
    BufferSettings Buffer,
    AsyncSettings Async,
    PersistenceSettings Persistence,
    CheckpointSettings Checkpoint,
    ClusterSettings Cluster)
{
    /// <summary>
    /// What identifies the run's configuration across nodes (the keys that change what a node computes), set by
    /// <see cref="SettingsLoader.Resolve"/>; null for settings built by hand (no check).
    /// </summary>
    public RunFingerprint? Fingerprint { get; init; }
}

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

/// <summary><c>rorecomp.model</c>: which model to build, where it starts from and where it runs.</summary>
/// <param name="Preset">Model preset name (the shape a <c>tiny</c> source's warm start trains).</param>
/// <param name="Checkpoint">Warm-start checkpoint path ("" = the run's own SFT warm start).</param>
/// <param name="Attention"><c>eager</c> (the hand-written attention, bit-for-bit the seeded results) or <c>sdpa</c> (libtorch's fused scaled_dot_product_attention: equal within float rounding, faster, the fused kernel on GPUs).</param>
/// <param name="Source"><c>tiny</c> (the built-in preset on a task's character vocabulary, SFT warm start) or <c>hf</c> (a Hugging Face directory at <paramref name="Path"/> is the starting policy and its tokenizer the run's).</param>
/// <param name="Path">A local Hugging Face model directory (<c>hf</c> source).</param>
/// <param name="Device"><c>auto</c> (CUDA when the CUDA build finds a GPU, else CPU), <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</param>
/// <param name="Dtype">The samplers' and evaluator's weight type, <c>fp32</c> or <c>bf16</c>; the learner keeps fp32 weights and AdamW state.</param>
public sealed record ModelSettings(
    string Preset, string Checkpoint, string Attention = "eager", string Source = ModelSettings.Tiny, string Path = "",
    string Device = "auto", string Dtype = "fp32")
{
    /// <summary>The built-in tiny preset on a task's character vocabulary.</summary>
    public const string Tiny = "tiny";

    /// <summary>A Hugging Face model directory.</summary>
    public const string HuggingFace = "hf";

    /// <summary>Whether the policy starts from a Hugging Face directory.</summary>
    public bool IsHuggingFace => Source == HuggingFace;
}

/// <summary>
/// <c>rorecomp.task</c>: the dataset of <c>run.task = "jsonl"</c> (one JSON object per line) and how its prompts are
/// built. Empty field names mean "the first of question/problem" and "the first of answer/solution" (GSM8K and MATH).
/// </summary>
/// <param name="TrainPath">JSONL file of training problems.</param>
/// <param name="TestPath">JSONL file of held-out problems ("" = hold out <paramref name="TestPercent"/>% of the training file).</param>
/// <param name="QuestionField">Field with the problem ("" = question, else problem).</param>
/// <param name="AnswerField">Field with the answer or worked solution ("" = answer, else solution).</param>
/// <param name="AnswerStyle"><c>auto</c> (<c>#### N</c>, else the last <c>\boxed{}</c>, else the field itself), <c>gsm8k</c>, <c>boxed</c> or <c>raw</c>.</param>
/// <param name="PromptTemplate">"" = the model's chat template around the question (plain <c>{question}</c> when it has none); else a text with <c>{question}</c>.</param>
/// <param name="SystemPrompt">The chat template's system message ("" = the template's own default).</param>
/// <param name="MaxSkipped">Malformed rows (no answer field, invalid UTF-8, bad JSON) skipped and counted before loading fails.</param>
/// <param name="TestPercent">Held-out share of the training file when there is no test file (1-50).</param>
public sealed record TaskDataSettings(
    string TrainPath = "", string TestPath = "", string QuestionField = "", string AnswerField = "", string AnswerStyle = "auto",
    string PromptTemplate = "", string SystemPrompt = "", int MaxSkipped = 100, int TestPercent = 10);

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

/// <summary><c>rorecomp.buffer</c>: replay buffer bounds, snapshot cadence and where responses' token arrays are kept.</summary>
/// <param name="Capacity">Most responses held.</param>
/// <param name="MaxStaleness">Policy versions after which a response is evicted.</param>
/// <param name="SnapshotEvery">Journal a snapshot every N events.</param>
/// <param name="ResponseBodies">
/// <c>table</c> (default): token arrays in a table of their own, written once; <c>journal</c>: inside the events and
/// snapshots (every snapshot rewrites them).
/// </param>
public sealed record BufferSettings(int Capacity, int MaxStaleness, int SnapshotEvery, string ResponseBodies = BufferSettings.Table)
{
    /// <summary>Bodies in a table of their own.</summary>
    public const string Table = "table";

    /// <summary>Bodies inside the journal's events and snapshots.</summary>
    public const string Journal = "journal";
}

/// <summary><c>rorecomp.async</c>: how far samplers may lag behind the learner's policy.</summary>
public sealed record AsyncSettings(int MaxPolicyLag);

/// <summary><c>rorecomp.persistence</c>: the journal/snapshot store (SQLite file in the run dir, or PostgreSQL).</summary>
/// <param name="Provider"><c>sqlite</c> or <c>postgresql</c>.</param>
/// <param name="ConnectionString">Explicit connection string ("" = derived from <paramref name="SqlitePath"/> for SQLite).</param>
/// <param name="SqlitePath">SQLite file ("" = <c>&lt;run-dir&gt;/journal.db</c>).</param>
/// <param name="RunId">Names this run's journal rows ("" = derived from the run directory); see <see cref="Persistence.PersistenceHocon.PersistenceId"/>.</param>
/// <param name="SqliteJournalMode">
/// <c>wal</c> (the default: one fsync per commit, for a file on a local disk) or <c>delete</c> (SQLite's rollback
/// journal, for a journal file on a network file system, where WAL's shared memory does not work).
/// </param>
public sealed record PersistenceSettings(string Provider, string ConnectionString, string SqlitePath, string RunId = "", string SqliteJournalMode = PersistenceSettings.Wal)
{
    /// <summary>SQLite's write-ahead log for the journal file.</summary>
    public const string Wal = "wal";

    /// <summary>SQLite's rollback journal (deleted after each commit) for the journal file.</summary>
    public const string Delete = "delete";

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
/// <param name="WeightsRelayFanout">Samplers' relay tree fan-out for policy weights (0 = every sampler fetches from the learner).</param>
/// <param name="JoinTimeoutSeconds">How long <c>node</c> waits to join its seed before it gives up with exit code 1 (0 = forever).</param>
public sealed record ClusterSettings(
    ImmutableArray<string> Roles, string Hostname, int Port, ImmutableArray<string> SeedNodes, int StableAfterSeconds, int WeightsPort,
    int WeightsRelayFanout, int JoinTimeoutSeconds = 120)
{
    /// <summary>The roles a node can have.</summary>
    public static readonly ImmutableArray<string> KnownRoles = ["learner", "sampler", "verifier", "buffer"];

    /// <summary>Whether this node has <paramref name="role"/>.</summary>
    public bool Has(string role) => Roles.Contains(role);
}
