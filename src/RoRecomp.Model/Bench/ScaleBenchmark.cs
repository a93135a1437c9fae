using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Sampling;
using RoRecomp.Model.Training;
using RoRecomp.Model.Transformer;
using static TorchSharp.torch;

namespace RoRecomp.Model.Bench;

/// <summary>
/// Settings of <see cref="ScaleBenchmark.Run"/>. The defaults keep a 0.5B run to a few minutes on 2 CPU cores: the sampler
/// decodes short prompts, the learner trains one micro-batch of <see cref="TrainRows"/> x <see cref="TrainTokens"/> tokens.
/// </summary>
/// <param name="Preset">A <see cref="TransformerConfig.Preset"/> name.</param>
/// <param name="Config">A config to use instead of the preset (tests use a tiny one); <see cref="Preset"/> then only names it.</param>
/// <param name="PromptTokens">Prompt length of every sampled row.</param>
/// <param name="SingleRowNewTokens">New tokens decoded at batch 1.</param>
/// <param name="BatchRows">Rows of the batched sampler measurement (the issue's 64).</param>
/// <param name="BatchNewTokens">New tokens decoded per row at <see cref="BatchRows"/>.</param>
/// <param name="TrainRows">Rows of the learner's one micro-batch.</param>
/// <param name="TrainTokens">Tokens per training row (the sequence length).</param>
/// <param name="Repeats">Timings per measurement; the best is kept.</param>
/// <param name="BandwidthMegabytes">Size of the tensor copied and summed to measure memory bandwidth.</param>
/// <param name="Threads">Torch intra-op threads (0 = leave as is).</param>
/// <param name="CheckpointDirectory">Where the checkpoint is written (null = a temp folder, deleted afterwards).</param>
/// <param name="Phases">Which phases run (separate invocations give each its own process and peak RSS).</param>
public sealed record ScaleBenchOptions(
    string Preset = "qwen2.5-0.5b",
    TransformerConfig? Config = null,
    int PromptTokens = 8,
    int SingleRowNewTokens = 24,
    int BatchRows = 64,
    int BatchNewTokens = 12,
    int TrainRows = 2,
    int TrainTokens = 256,
    int Repeats = 2,
    int BandwidthMegabytes = 512,
    int Threads = 0,
    string? CheckpointDirectory = null,
    ScalePhases Phases = ScalePhases.All);

/// <summary>Phases of <see cref="ScaleBenchmark"/>.</summary>
[Flags]
public enum ScalePhases
{
    /// <summary>Nothing but the matmul peak and memory bandwidth probes.</summary>
    None = 0,

    /// <summary>Sampling at batch 1 and batch N with the KV cache, its roofline and peak RSS.</summary>
    Sampler = 1,

    /// <summary>Safetensors serialise + parse + load into a sampler copy.</summary>
    Publish = 2,

    /// <summary>Training throughput, FLOP fraction, peak RSS against the paper budget.</summary>
    Learner = 4,

    /// <summary>Checkpoint (model + optimizer) write and read; needs <see cref="Learner"/> (the optimizer state).</summary>
    Checkpoint = 8,

    /// <summary>Every phase.</summary>
    All = Sampler | Publish | Learner | Checkpoint,
}

/// <summary>One figure measured at batch 1 and at batch N.</summary>
/// <param name="Batch1">At one row.</param>
/// <param name="BatchN">At <see cref="ScaleBenchResult.BatchRows"/> rows.</param>
public sealed record PerBatch(double? Batch1, double? BatchN);

/// <summary>
/// What <see cref="ScaleBenchmark.Run"/> measured. Times are the best of the repeats; RSS figures are the process's
/// VmHWM (peak resident set) in GB (1e9 bytes) since the peak was reset at the start of the phase. A null figure was not
/// measured: <see cref="Notes"/> says why. The load averages (1 minute, /proc/loadavg) at the start and the end say how
/// much other work shared the machine.
/// </summary>
public sealed record ScaleBenchResult(
    string Preset,
    long Parameters,
    int Threads,
    double MatmulPeakGflops,
    double MemoryCopyGbPerSecond,
    double MemorySumGbPerSecond,
    double ProcessBaselineRssGb,
    int PromptTokens,
    int BatchRows,
    PerBatch SamplerTokensPerSecond,
    PerBatch SamplerEndToEndTokensPerSecond,
    PerBatch DecodeRooflineTokensPerSecond,
    PerBatch DecodeRooflineFraction,
    double? SamplerPeakRssGb,
    double SamplerMemoryBudgetGb,
    double? PublishToFetchSeconds,
    long? PublishBytes,
    int TrainRows,
    int TrainTokens,
    double? TrainTokensPerSecond,
    double? TrainGflops,
    double? TrainFlopsFractionOfPeak,
    double? LearnerPhaseStartRssGb,
    double? LearnerPeakRssGb,
    double LearnerMemoryBudgetGb,
    double? LearnerPeakOverBudget,
    double? CheckpointWriteSeconds,
    double? CheckpointReadSeconds,
    long? CheckpointBytes,
    bool PeakResetWorked,
    double? LoadAverageAtStart,
    double? LoadAverageAtEnd,
    IReadOnlyList<string> Notes)
{
    /// <summary>Target: training FLOP/s at least this fraction of the matmul peak (at 0.5B).</summary>
    public const double TrainTarget = 0.40;

    /// <summary>Target: decoding at least this fraction of its roofline, at batch 1 and batch N.</summary>
    public const double DecodeTarget = 0.50;

    /// <summary>Target: learner peak RSS at most this multiple of the paper budget.</summary>
    public const double MemoryTarget = 1.25;

    /// <summary>How the FLOPs of a training token are counted.</summary>
    public const string TrainFlopFormula = "6 * parameters * tokens + 12 * layers * hidden * sequence length * tokens (forward + backward)";

    /// <summary>How the decode roofline is computed.</summary>
    public const string RooflineFormula =
        "tokens/s <= min(rows * bandwidth / weight bytes, matmul peak / (2 * parameters)): a step reads every fp32 weight once for all rows and does 2 * parameters FLOPs per row; bandwidth = max(copy, sum)";

    /// <summary>How the learner's paper budget is computed.</summary>
    public const string BudgetFormula =
        "16 * parameters (fp32 weights, gradients, AdamW m and v) + tokens * 4 * (layers * (12 h + 3 kv + 4 i + heads * seq) + 3 h + 2 vocab)";

    /// <summary>Whether each target was met (null when its figure was not measured).</summary>
    public IReadOnlyDictionary<string, bool?> Targets => new Dictionary<string, bool?>
    {
        [$"train_flops_fraction_of_peak >= {TrainTarget}"] = TrainFlopsFractionOfPeak is { } f ? f >= TrainTarget : null,
        [$"decode_roofline_fraction.batch_1 >= {DecodeTarget}"] = DecodeRooflineFraction.Batch1 is { } d1 ? d1 >= DecodeTarget : null,
        [$"decode_roofline_fraction.batch_{BatchRows} >= {DecodeTarget}"] = DecodeRooflineFraction.BatchN is { } dn ? dn >= DecodeTarget : null,
        [$"learner_peak_over_budget <= {MemoryTarget}"] = LearnerPeakOverBudget is { } r ? r <= MemoryTarget : null,
    };

    /// <summary>The result as indented JSON with snake_case keys (null = not measured).</summary>
    public string ToJson()
    {
        object Batches(PerBatch p) => new Dictionary<string, double?> { ["batch_1"] = p.Batch1, [$"batch_{BatchRows}"] = p.BatchN };
        var d = new Dictionary<string, object?>
        {
            ["preset"] = Preset,
            ["parameters"] = Parameters,
            ["threads"] = Threads,
            ["matmul_peak_gflops"] = MatmulPeakGflops,
            ["memory_copy_gb_per_s"] = MemoryCopyGbPerSecond,
            ["memory_sum_gb_per_s"] = MemorySumGbPerSecond,
            ["process_baseline_rss_gb"] = ProcessBaselineRssGb,
            ["prompt_tokens"] = PromptTokens,
            ["sampler_tokens_per_s"] = Batches(SamplerTokensPerSecond),
            ["sampler_end_to_end_tokens_per_s"] = Batches(SamplerEndToEndTokensPerSecond),
            ["decode_roofline_tokens_per_s"] = Batches(DecodeRooflineTokensPerSecond),
            ["decode_roofline_fraction"] = Batches(DecodeRooflineFraction),
            ["decode_roofline_formula"] = RooflineFormula,
            ["sampler_peak_rss_gb"] = SamplerPeakRssGb,
            ["sampler_memory_budget_gb"] = SamplerMemoryBudgetGb,
            ["publish_to_fetch_s"] = PublishToFetchSeconds,
            ["publish_bytes"] = PublishBytes,
            ["train_rows"] = TrainRows,
            ["train_tokens"] = TrainTokens,
            ["train_tokens_per_s"] = TrainTokensPerSecond,
            ["train_gflops"] = TrainGflops,
            ["train_flops_fraction_of_peak"] = TrainFlopsFractionOfPeak,
            ["train_flop_formula"] = TrainFlopFormula,
            ["learner_phase_start_rss_gb"] = LearnerPhaseStartRssGb,
            ["learner_peak_rss_gb"] = LearnerPeakRssGb,
            ["learner_memory_budget_gb"] = LearnerMemoryBudgetGb,
            ["learner_memory_budget_formula"] = BudgetFormula,
            ["learner_peak_over_budget"] = LearnerPeakOverBudget,
            ["checkpoint_write_s"] = CheckpointWriteSeconds,
            ["checkpoint_read_s"] = CheckpointReadSeconds,
            ["checkpoint_bytes"] = CheckpointBytes,
            ["peak_reset_worked"] = PeakResetWorked,
            ["load_average_at_start"] = LoadAverageAtStart,
            ["load_average_at_end"] = LoadAverageAtEnd,
            ["targets_met"] = Targets,
            ["notes"] = Notes,
        };
        // Relaxed escaping keeps '<', '>' and '+' of the formulas readable (the JSON is a report, not HTML).
        return JsonSerializer.Serialize(d, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }
}

/// <summary>
/// Benchmarks a model at a real size (<see cref="TransformerConfig.Preset"/>, random init) on this machine: sampling
/// throughput with the KV cache against its roofline, training FLOP/s against the fp32 matmul peak measured in the same
/// run (<see cref="ModelBenchmark.MatmulPeakGflops"/>), peak memory of the sampler and the learner against their paper
/// budgets, checkpoint write/read, and weight publication (safetensors serialise + parse + load into a sampler copy).
/// <para>
/// Memory: one process, phases in the order sampler, learner, checkpoint, publish (publication last: the byte[] it
/// leaves to the garbage collector would otherwise count in the learner's peak). At the start of the sampler and of the
/// learner phase the kernel's peak-RSS mark is reset (<c>5</c> written to <c>/proc/self/clear_refs</c>, Linux 4.0+), so each
/// phase's VmHWM is its own peak; it includes what was already resident (the .NET runtime and libtorch, reported as
/// <c>process_baseline_rss_gb</c>; for the learner also the model built by the sampler phase, and whatever freed memory
/// the allocators kept, reported as <c>learner_phase_start_rss_gb</c>). Where the reset is refused the figure is the
/// process's peak so far, and <c>peak_reset_worked</c> says so. For a fresh process per measurement run each phase in its
/// own invocation (<see cref="ScaleBenchOptions.Phases"/>).
/// </para>
/// <para>
/// Decode tokens/s come from the difference of a run of N new tokens and a run of 1 (prompt prefill and first sample), so
/// the prefill is not counted: rows * (N - 1) / (t(N) - t(1)). The end-to-end figure (rows * N / t(N)) is reported too.
/// </para>
/// </summary>
public static class ScaleBenchmark
{
    private const double Gb = 1e9;

    /// <summary>Runs the selected phases; <paramref name="progress"/> gets one line per phase.</summary>
    public static ScaleBenchResult Run(ScaleBenchOptions o, Action<string>? progress = null)
    {
        TorchRuntime.EnsureLoaded();
        if (o.Threads > 0) set_num_threads(o.Threads);
        var threads = get_num_threads();
        var config = o.Config ?? TransformerConfig.Preset(o.Preset);
        var parameters = config.ParameterCount();
        var notes = new List<string>();
        void Say(string line) => progress?.Invoke(line);
        var loadAtStart = ProcessMemory.LoadAverage();

        Say($"{o.Preset}: {parameters:N0} parameters, {threads} threads; matmul peak ...");
        var peak = ModelBenchmark.MatmulPeakGflops(o.Repeats);
        Say($"  matmul peak {peak:N1} GFLOP/s; memory bandwidth ({o.BandwidthMegabytes} MB copy and sum) ...");
        var (copyBw, sumBw) = MemoryBandwidth(o.BandwidthMegabytes, o.Repeats);
        var bandwidth = Math.Max(copyBw, sumBw);
        Say($"  memory bandwidth: copy {copyBw:N1} GB/s, sum {sumBw:N1} GB/s");
        ForceGc();
        var baseline = ProcessMemory.RssBytes() / Gb;

        var samplerBudget = SamplerMemoryBudgetBytes(config, o.BatchRows, o.PromptTokens + Math.Max(o.BatchNewTokens, o.SingleRowNewTokens)) / Gb;
        var learnerBudget = LearnerMemoryBudgetBytes(config, o.TrainRows, o.TrainTokens) / Gb;
        var resetWorked = ProcessMemory.ResetPeak();
        if (!resetWorked) notes.Add("the peak-RSS reset (/proc/self/clear_refs) was refused: RSS peaks are the process's peak so far");

        TorchRuntime.ManualSeed(1);
        using var model = new PolicyTransformer(config);
        var rng = new Random(1);

        PerBatch tokensPerS = new(null, null), endToEnd = new(null, null), roofline = new(null, null), fraction = new(null, null);
        double? samplerPeak = null;
        if (o.Phases.HasFlag(ScalePhases.Sampler))
        {
            var one = Decode(model, 1, o.SingleRowNewTokens, o, rng, Say, notes);
            var many = Decode(model, o.BatchRows, o.BatchNewTokens, o, rng, Say, notes);
            samplerPeak = ProcessMemory.PeakBytes() / Gb;
            var weightBytes = 4.0 * parameters;
            double Roof(int rows) => Math.Min(rows * bandwidth * Gb / weightBytes, peak * 1e9 / (2.0 * parameters));
            tokensPerS = new(one.Decode, many.Decode);
            endToEnd = new(one.EndToEnd, many.EndToEnd);
            roofline = new(Roof(1), Roof(o.BatchRows));
            fraction = new(one.Decode / Roof(1), many.Decode / Roof(o.BatchRows));
            Say($"  sampler: {one.Decode:N2} tokens/s at batch 1 ({fraction.Batch1:P0} of roofline {roofline.Batch1:N2}), " +
                $"{many.Decode:N2} at batch {o.BatchRows} ({fraction.BatchN:P0} of {roofline.BatchN:N2}); peak RSS {samplerPeak:N2} GB (budget {samplerBudget:N2})");
        }

        double? trainTps = null, trainGflops = null, trainFraction = null, learnerStart = null, learnerPeak = null, ratio = null;
        double? writeSeconds = null, readSeconds = null;
        long? checkpointBytes = null;
        if (o.Phases.HasFlag(ScalePhases.Learner) || o.Phases.HasFlag(ScalePhases.Checkpoint))
        {
            // The learner adds gradients and AdamW state (12 bytes a parameter) and activations to the model already resident.
            var needed = (learnerBudget * Gb) - (4.0 * parameters);
            var available = ProcessMemory.AvailableBytes();
            if (available is { } avail && needed > 0.9 * avail)
            {
                notes.Add($"learner and checkpoint skipped: they need about {needed / Gb:N1} GB more (paper budget {learnerBudget:N1} GB minus the resident model), " +
                    $"the machine has {avail / Gb:N1} GB available");
                Say($"learner SKIPPED: needs ~{needed / Gb:N1} GB more, {avail / Gb:N1} GB available");
            }
            else
            {
                ForceGc();
                ProcessMemory.ResetPeak();
                learnerStart = ProcessMemory.RssBytes() / Gb;
                Say($"learner: AdamW, {o.TrainRows} x {o.TrainTokens} tokens in one micro-batch (warm-up step + {o.Repeats} timed) ...");
                using var trainer = new PolicyTrainer(model, new OptimizerOptions(LearningRate: 1e-5, MicroBatchSize: o.TrainRows), new PolicyLossOptions());
                var batch = Enumerable.Range(0, o.TrainRows).Select(_ =>
                {
                    var seq = Enumerable.Range(0, o.TrainTokens).Select(_ => rng.Next(2, config.VocabSize)).ToArray();
                    return (seq[..1], seq[1..]);
                }).ToArray();
                trainer.SftStep(batch); // warm-up: first-touch of gradients and AdamW moments
                var seconds = ModelBenchmark.Best(o.Repeats, () => trainer.SftStep(batch));
                learnerPeak = ProcessMemory.PeakBytes() / Gb;
                var tokens = (double)o.TrainRows * o.TrainTokens;
                var flopsPerToken = (6.0 * parameters) + (12.0 * config.NumLayers * config.HiddenSize * o.TrainTokens);
                trainTps = tokens / seconds;
                trainGflops = flopsPerToken * tokens / seconds / 1e9;
                trainFraction = trainGflops / peak;
                ratio = learnerPeak / learnerBudget;
                Say($"  training {trainTps:N1} tokens/s = {trainGflops:N1} GFLOP/s = {trainFraction:P0} of peak ({seconds:N1} s a step); " +
                    $"peak RSS {learnerPeak:N2} GB (phase start {learnerStart:N2}) vs budget {learnerBudget:N2} GB = {ratio:N2}x");

                if (o.Phases.HasFlag(ScalePhases.Checkpoint))
                {
                    Say("checkpoint: model + optimizer write (fsync) and read (verify + restore) ...");
                    try
                    {
                        (writeSeconds, readSeconds, checkpointBytes) = CheckpointRoundTrip(model, trainer, config, o.CheckpointDirectory);
                        Say($"  checkpoint write {writeSeconds:N2} s, read {readSeconds:N2} s, {checkpointBytes / Gb:N2} GB");
                    }
                    catch (Exception ex) when (ex is OutOfMemoryException or OverflowException or ArgumentException or CheckpointException or IOException)
                    {
                        notes.Add($"checkpoint failed: {ex.GetType().Name}: {ex.Message}");
                        Say($"  checkpoint FAILED: {ex.Message}");
                    }
                }
            }
        }

        double? publishSeconds = null;
        long? publishBytes = null;
        if (o.Phases.HasFlag(ScalePhases.Publish))
        {
            Say("publish: safetensors serialise + parse + load into a sampler copy ...");
            try
            {
                (publishSeconds, publishBytes) = Publish(model, config);
                Say($"  publish to fetch {publishSeconds:N2} s for {publishBytes / Gb:N2} GB");
            }
            catch (Exception ex) when (ex is OutOfMemoryException or OverflowException or ArgumentException or CheckpointException or IOException)
            {
                notes.Add($"publish failed: {ex.GetType().Name}: {ex.Message}{ArrayLimit("the weights", 4L * parameters)}");
                Say($"  publish FAILED: {ex.Message}");
            }
            ForceGc();
        }

        return new ScaleBenchResult(
            o.Preset, parameters, threads, peak, copyBw, sumBw, baseline, o.PromptTokens, o.BatchRows,
            tokensPerS, endToEnd, roofline, fraction, samplerPeak, samplerBudget, publishSeconds, publishBytes,
            o.TrainRows, o.TrainTokens, trainTps, trainGflops, trainFraction, learnerStart, learnerPeak, learnerBudget, ratio,
            writeSeconds, readSeconds, checkpointBytes, resetWorked, loadAtStart, ProcessMemory.LoadAverage(), notes);
    }

    /// <summary>
    /// Activation bytes of one token, summed over the layers and the head, that backpropagation through this model must
    /// keep (fp32): per layer the residual input, both norms' inputs and outputs (6h), the query before and after rotary
    /// embedding plus its rotated half (3h), the keys (3 kv: projection, rotated half, result) and the keys and values
    /// repeated to every head (2h), the attention output (h), the softmax probabilities (heads * seq) and the SwiGLU
    /// gate, silu, up and product (4i); for the head the final residual and norm (3h) and the logits and their
    /// log-softmax (2 vocab). Masks, rotary tables and one-element terms are left out.
    /// </summary>
    public static double ActivationBytesPerToken(TransformerConfig c, int sequenceLength)
    {
        double h = c.HiddenSize, kv = c.NumKvHeads * c.HeadDim, i = c.IntermediateSize;
        var perLayer = (12 * h) + (3 * kv) + (4 * i) + ((double)c.NumHeads * sequenceLength);
        return 4.0 * ((c.NumLayers * perLayer) + (3 * h) + (2.0 * c.VocabSize));
    }

    /// <summary>
    /// The learner's paper budget: fp32 weights, gradients and AdamW's two moments (16 bytes a parameter) plus the
    /// activations (<see cref="ActivationBytesPerToken"/>) of one micro-batch of <paramref name="rows"/> x <paramref name="sequenceLength"/> tokens.
    /// </summary>
    public static double LearnerMemoryBudgetBytes(TransformerConfig c, int rows, int sequenceLength) =>
        (16.0 * c.ParameterCount()) + ((double)rows * sequenceLength * ActivationBytesPerToken(c, sequenceLength));

    /// <summary>
    /// The sampler's paper budget as this code runs it (fp32 on the CPU): weights (4 bytes a parameter), the KV cache of
    /// <paramref name="rows"/> x <paramref name="tokens"/> positions (2 x layers x kv width x 4 bytes each) and one row of logits per row.
    /// </summary>
    public static double SamplerMemoryBudgetBytes(TransformerConfig c, int rows, int tokens) =>
        (4.0 * c.ParameterCount()) + ((double)rows * tokens * 2 * c.NumLayers * c.NumKvHeads * c.HeadDim * 4) + ((double)rows * c.VocabSize * 4);

    /// <summary>
    /// Memory bandwidth in GB/s (1e9 bytes): a copy of an fp32 tensor of <paramref name="megabytes"/> MB into another (bytes
    /// read + written per second) and a sum of it (bytes read per second), each the best of <paramref name="repeats"/>.
    /// </summary>
    public static (double CopyGbPerSecond, double SumGbPerSecond) MemoryBandwidth(int megabytes, int repeats)
    {
        using var scope = NewDisposeScope();
        var n = (long)megabytes * 1024 * 1024 / 4;
        var a = rand(n);
        var b = empty(n);
        b.copy_(a);   // first touch of b's pages
        var copy = ModelBenchmark.Best(Math.Max(2, repeats), () => b.copy_(a));
        var sum = ModelBenchmark.Best(Math.Max(2, repeats), () => a.sum().Dispose());
        var bytes = 4.0 * n;
        return (2 * bytes / copy / Gb, bytes / sum / Gb);
    }

    private static (double? Decode, double EndToEnd) Decode(PolicyTransformer model, int rows, int newTokens, ScaleBenchOptions o, Random rng, Action<string> say, List<string> notes)
    {
        if (newTokens < 2) throw new ArgumentException($"the sampler needs at least 2 new tokens to time decoding (got {newTokens})");
        say($"sampler: batch {rows}, {o.PromptTokens}-token prompts, {newTokens} new tokens (KV cache) ...");
        var vocab = model.Config.VocabSize;
        var prompts = Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, o.PromptTokens).Select(_ => rng.Next(2, vocab)).ToArray()).ToArray();
        // Eos id -1 never occurs, so every row decodes exactly the tokens asked for.
        var sampling = new SamplingOptions(newTokens, EosId: -1, PadId: 0, Temperature: 1.0);
        PolicySampler.Generate(model, prompts, sampling with { MaxNewTokens = 2 }, 1); // warm-up
        var full = ModelBenchmark.Best(o.Repeats, () => PolicySampler.Generate(model, prompts, sampling, 1));
        var prefill = ModelBenchmark.Best(o.Repeats, () => PolicySampler.Generate(model, prompts, sampling with { MaxNewTokens = 1 }, 1));
        // Timing noise can make the difference meaningless (never seen at real sizes); then the figure is not reported.
        double? decode = full > prefill ? rows * (newTokens - 1) / (full - prefill) : null;
        if (decode is null) notes.Add($"batch {rows}: {newTokens} new tokens took no longer than 1 ({full:N3} s vs {prefill:N3} s): decode rate not measured");
        return (decode, rows * newTokens / full);
    }

    private static (double Seconds, long Bytes) Publish(PolicyTransformer model, TransformerConfig config)
    {
        TorchRuntime.ManualSeed(2);
        using var copy = new PolicyTransformer(config);   // the sampler's copy exists before weights arrive
        var sw = Stopwatch.StartNew();
        var bytes = SafeTensors.Serialize(model.state_dict());
        var content = SafeTensors.Parse(bytes, "published weights");
        var tensors = content.ToDictionary();
        try
        {
            StateDicts.Load(copy, tensors, strict: true, "published weights");
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
        copy.eval();
        return (sw.Elapsed.TotalSeconds, bytes.LongLength);
    }

    private static (double Write, double Read, long Bytes) CheckpointRoundTrip(PolicyTransformer model, PolicyTrainer trainer, TransformerConfig config, string? directory)
    {
        var dir = directory ?? Path.Combine(Path.GetTempPath(), $"rorecomp-bench-scale-{Guid.NewGuid():N}");
        try
        {
            var store = new CheckpointStore(dir, keepLast: 1);
            string path;
            var sw = Stopwatch.StartNew();
            using (NewDisposeScope())   // the optimizer's 'step' tensor
            {
                path = store.Save(1, 1, model.state_dict(), trainer.Optimizer.StateDict(), JsonSerializer.Serialize(config));
            }
            var write = sw.Elapsed.TotalSeconds;
            var bytes = new DirectoryInfo(path).EnumerateFiles().Sum(f => f.Length);
            ForceGc();
            sw.Restart();
            using (var checkpoint = CheckpointStore.Load(path))
            {
                StateDicts.Load(model, checkpoint.Model, strict: true, path);
                trainer.Optimizer.LoadStateDict(checkpoint.Optimizer);
            }
            return (write, sw.Elapsed.TotalSeconds, bytes);
        }
        finally
        {
            if (directory is null && Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Why a file of <paramref name="bytes"/> cannot be serialised, when that is the reason.</summary>
    private static string ArrayLimit(string what, long bytes) => bytes > Array.MaxLength
        ? $" ({what} is {bytes:N0} bytes; published weights travel as one safetensors byte[] (PolicyWeights.Serialize), limited to {Array.MaxLength:N0} bytes; checkpoints stream and have no such limit)"
        : "";

    private static void ForceGc()
    {
        System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
    }
}

/// <summary>The process's resident memory from <c>/proc</c> (Linux; elsewhere the figures are 0 and the reset refused).</summary>
public static class ProcessMemory
{
    /// <summary>Current resident set (VmRSS) in bytes.</summary>
    public static long RssBytes() => StatusField("VmRSS:");

    /// <summary>Peak resident set (VmHWM) in bytes since the process started or <see cref="ResetPeak"/>.</summary>
    public static long PeakBytes() => StatusField("VmHWM:");

    /// <summary>Resets VmHWM to the current RSS (writes 5 to /proc/self/clear_refs); false when the kernel refuses.</summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>MemAvailable from /proc/meminfo in bytes, or null when unknown.</summary>
    public static long? AvailableBytes()
    {
        if (!File.Exists("/proc/meminfo")) return null;
        var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal));
        return line is null ? null : ParseKb(line);
    }

    /// <summary>The 1-minute load average from /proc/loadavg, or null when unknown.</summary>
    public static double? LoadAverage()
    {
        if (!File.Exists("/proc/loadavg")) return null;
        var first = File.ReadAllText("/proc/loadavg").Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        return double.TryParse(first, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;
    }

    private static long StatusField(string name)
    {
        if (!File.Exists("/proc/self/status")) return 0;
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal));
        return line is null ? 0 : ParseKb(line);
    }

    /// <summary>The kB figure of a /proc line such as <c>VmHWM:\t 2117996 kB</c> (from 10 GB on, no space after the tab), in bytes.</summary>
    internal static long ParseKb(string line) =>
        long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
}
