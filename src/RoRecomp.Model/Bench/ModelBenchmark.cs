using System.Diagnostics;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Sampling;
using RoRecomp.Model.Training;
using RoRecomp.Model.Transformer;
using static TorchSharp.torch;

namespace RoRecomp.Model.Bench;

/// <summary>Settings of <see cref="ModelBenchmark.Run"/>.</summary>
public sealed record ModelBenchOptions(int Vocab = 32, int Rows = 64, int PromptTokens = 16, int NewTokens = 64, int TrainRows = 64, int TrainTokens = 128, int Repeats = 3, int Threads = 0);

/// <summary>Measured figures (seconds are the best of the repeats).</summary>
public sealed record ModelBenchResult(
    long Parameters,
    int Threads,
    double MatmulPeakGflops,
    double DecodeTokensPerSecond,
    double DecodeNoCacheTokensPerSecond,
    double KvCacheSpeedup,
    double TrainTokensPerSecond,
    double TrainGflops,
    double TrainFlopsFractionOfPeak,
    string FlopFormula);

/// <summary>Seconds (best of the repeats) of one forward pass and one forward + backward pass in each attention mode.</summary>
/// <param name="ExplicitForward">Hand-written attention, forward without gradients.</param>
/// <param name="SdpaForward"><c>scaled_dot_product_attention</c>, forward without gradients.</param>
/// <param name="ExplicitTrain">Hand-written attention, forward + backward.</param>
/// <param name="SdpaTrain"><c>scaled_dot_product_attention</c>, forward + backward.</param>
/// <param name="CheckpointedTrain">Hand-written attention with activation checkpointing, forward + backward.</param>
/// <param name="MaxLogitDifference">Largest |logit difference| between the two attention modes.</param>
public sealed record AttentionBenchResult(
    double ExplicitForward, double SdpaForward, double ExplicitTrain, double SdpaTrain, double CheckpointedTrain, double MaxLogitDifference);

/// <summary>
/// Benchmarks the tiny preset on this machine: KV-cache vs no-cache decoding, training throughput, and training FLOP/s
/// against a measured fp32 matmul peak. Not a test: it only measures and reports.
/// </summary>
public static class ModelBenchmark
{
    /// <summary>Runs every measurement; <paramref name="progress"/> gets one line per phase.</summary>
    public static ModelBenchResult Run(ModelBenchOptions o, Action<string>? progress = null)
    {
        TorchRuntime.EnsureLoaded();
        if (o.Threads > 0) set_num_threads(o.Threads);
        var threads = get_num_threads();
        TorchRuntime.ManualSeed(1);
        var config = TransformerConfig.Tiny(o.Vocab);
        using var model = new PolicyTransformer(config);

        progress?.Invoke($"matmul peak ({threads} threads) ...");
        var peak = MatmulPeakGflops(o.Repeats);

        var rng = new Random(1);
        var prompts = Enumerable.Range(0, o.Rows).Select(_ => Enumerable.Range(0, o.PromptTokens).Select(_ => rng.Next(2, o.Vocab)).ToArray()).ToArray();
        // Eos id -1 never occurs, so every row decodes exactly NewTokens tokens.
        var sampling = new SamplingOptions(o.NewTokens, EosId: -1, PadId: 0, Temperature: 1.0);
        progress?.Invoke($"decode with KV cache: {o.Rows} rows x {o.NewTokens} new tokens ...");
        var withCache = Best(o.Repeats, () => PolicySampler.Generate(model, prompts, sampling, 1));
        progress?.Invoke("decode recomputing the prefix (no cache) ...");
        var noCache = Best(o.Repeats, () => PolicySampler.Generate(model, prompts, sampling with { UseKvCache = false }, 1));
        var generated = (double)o.Rows * o.NewTokens;

        progress?.Invoke($"training: {o.TrainRows} x {o.TrainTokens} tokens per step ...");
        using var trainer = new PolicyTrainer(model, new OptimizerOptions(LearningRate: 1e-4, MicroBatchSize: o.TrainRows), new PolicyLossOptions());
        var batch = Enumerable.Range(0, o.TrainRows).Select(_ =>
        {
            var seq = Enumerable.Range(0, o.TrainTokens).Select(_ => rng.Next(2, o.Vocab)).ToArray();
            return (seq[..1], seq[1..]);
        }).ToArray();
        trainer.SftStep(batch); // warm-up
        var train = Best(o.Repeats, () => trainer.SftStep(batch));
        var tokens = (double)o.TrainRows * o.TrainTokens;
        var flopsPerToken = (6.0 * config.ParameterCount()) + (12.0 * config.NumLayers * config.HiddenSize * o.TrainTokens);
        var trainGflops = flopsPerToken * tokens / train / 1e9;
        return new ModelBenchResult(
            config.ParameterCount(), threads, peak,
            generated / withCache, generated / noCache, noCache / withCache,
            tokens / train, trainGflops, trainGflops / peak,
            "6 * parameters * tokens + 12 * layers * hidden * sequence length * tokens (forward + backward)");
    }

    /// <summary>
    /// Times the hand-written attention against <c>scaled_dot_product_attention</c> (and activation checkpointing) on a
    /// model of <paramref name="config"/> with random weights: <paramref name="rows"/> unpadded sequences of
    /// <paramref name="length"/> tokens, the loss the sum of the logits' mean.
    /// </summary>
    public static AttentionBenchResult CompareAttention(TransformerConfig config, int rows, int length, int repeats)
    {
        TorchRuntime.EnsureLoaded();
        TorchRuntime.ManualSeed(1);
        using var model = new PolicyTransformer(config);
        using var scope = NewDisposeScope();
        var tokens = randint(config.VocabSize, [rows, length], dtype: ScalarType.Int64);
        var positions = tensor(Enumerable.Range(0, rows * length).Select(i => (long)(i % length)).ToArray(), [rows, length]);
        var keyMask = ones(rows, length, dtype: ScalarType.Bool);

        Tensor Logits(bool sdpa)
        {
            model.ScaledDotProductAttention = sdpa;
            using var ng = no_grad();
            return model.Forward(tokens, positions, keyMask);
        }

        void Train(bool sdpa, bool checkpoint)
        {
            using var step = NewDisposeScope();
            model.ScaledDotProductAttention = sdpa;
            model.ActivationCheckpointing = checkpoint;
            model.Forward(tokens, positions, keyMask).mean().backward();
            model.zero_grad();
        }

        var difference = (Logits(true) - Logits(false)).abs().max().item<float>();
        var explicitForward = Best(repeats, () => Logits(false).Dispose());
        var sdpaForward = Best(repeats, () => Logits(true).Dispose());
        Train(false, false);
        var explicitTrain = Best(repeats, () => Train(false, false));
        var sdpaTrain = Best(repeats, () => Train(true, false));
        var checkpointedTrain = Best(repeats, () => Train(false, true));
        model.ScaledDotProductAttention = false;
        model.ActivationCheckpointing = false;
        return new AttentionBenchResult(explicitForward, sdpaForward, explicitTrain, sdpaTrain, checkpointedTrain, difference);
    }

    /// <summary>Best of several timings of square fp32 matmuls (2 n^3 FLOP each), in GFLOP/s.</summary>
    public static double MatmulPeakGflops(int repeats)
    {
        var best = 0.0;
        foreach (var n in new[] { 512, 1024, 2048 })
        {
            using var scope = NewDisposeScope();
            var a = randn(n, n);
            var b = randn(n, n);
            _ = a.matmul(b);
            var reps = n == 2048 ? 2 : 8;
            var s = Best(repeats, () =>
            {
                for (var i = 0; i < reps; i++) a.matmul(b).Dispose();
            });
            best = Math.Max(best, 2.0 * n * n * n * reps / s / 1e9);
        }
        return best;
    }

    /// <summary>The shortest of <paramref name="repeats"/> timings of <paramref name="action"/>, in seconds.</summary>
    internal static double Best(int repeats, Action action)
    {
        var best = double.MaxValue;
        for (var i = 0; i < Math.Max(1, repeats); i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }

    /// <summary>The shortest of <paramref name="repeats"/> timings of <paramref name="f"/> (its result discarded), in seconds.</summary>
    internal static double Best<T>(int repeats, Func<T> f) => Best(repeats, () => { _ = f(); });
}
