using RoRecomp.Model.Bench;
using RoRecomp.Model.Training;
using RoRecomp.Model.Transformer;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace RoRecomp.Model.Tests.Transformer;

/// <summary>The opt-in attention kernel (<c>scaled_dot_product_attention</c>) and activation checkpointing.</summary>
public class AttentionKernelTests(ITestOutputHelper output)
{
    // Row 0: 3 pads then 9 tokens (left padding); row 1: 12 tokens.
    private static readonly long[][] Tokens = [[0, 0, 0, 5, 6, 7, 8, 9, 10, 11, 12, 13], [3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17]];
    private static readonly bool[][] Real = [[.. Enumerable.Range(0, 12).Select(j => j >= 3)], [.. Enumerable.Repeat(true, 12)]];
    private static readonly long[][] Positions = [[.. Enumerable.Range(0, 12).Select(j => (long)Math.Max(0, j - 3))], [.. Enumerable.Range(0, 12).Select(j => (long)j)]];

    private static Tensor Slice(long[][] x, int from, int to) => tensor(x.SelectMany(r => r[from..to]).ToArray(), [2, to - from]);

    private static Tensor Mask(int to) => tensor(Real.SelectMany(r => r[..to]).ToArray(), [2, to]);

    /// <summary>Full forward of the padded batch, then prefill of 8 and 4 cached decode steps, all logits concatenated.</summary>
    private static float[] Logits(PolicyTransformer model, bool sdpa)
    {
        using var scope = NewDisposeScope();
        using var ng = no_grad();
        model.ScaledDotProductAttention = sdpa;
        var parts = new List<Tensor> { model.Forward(Slice(Tokens, 0, 12), Slice(Positions, 0, 12), Mask(12)) };
        using var cache = model.NewCache();
        parts.Add(model.Forward(Slice(Tokens, 0, 8), Slice(Positions, 0, 8), Mask(8), cache));
        for (var t = 8; t < 12; t++) parts.Add(model.Forward(Slice(Tokens, t, t + 1), Slice(Positions, t, t + 1), Mask(t + 1), cache));
        model.ScaledDotProductAttention = false;
        return cat([.. parts.Select(p => p.flatten())]).data<float>().ToArray();
    }

    private static void AssertClose(float[] expected, float[] actual, double relative, string what)
    {
        var scale = expected.Max(Math.Abs);
        var worst = expected.Zip(actual, (x, y) => Math.Abs(x - y)).Max();
        Assert.True(worst <= relative * scale, $"{what}: max |difference| {worst} against max |value| {scale}");
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void Scaled_dot_product_attention_gives_the_hand_written_logits(bool tie, bool bias)
    {
        var model = TinyModels.Make(tie: tie, bias: bias);
        model.eval();
        var expected = Logits(model, sdpa: false);
        var actual = Logits(model, sdpa: true);
        Assert.DoesNotContain(actual, float.IsNaN);
        AssertClose(expected, actual, 1e-5, "logits");
        var bitwise = expected.SequenceEqual(actual);
        output.WriteLine($"SDPA logits bitwise equal to the hand-written path: {bitwise}; max |difference| {expected.Zip(actual, (x, y) => Math.Abs(x - y)).Max()}");
    }

    private static (float[] Grads, TrainMetrics Metrics) Step(bool sdpa, bool checkpoint)
    {
        using var model = TinyModels.Make(4);
        model.ScaledDotProductAttention = sdpa;
        model.ActivationCheckpointing = checkpoint;
        using var trainer = new PolicyTrainer(model, new OptimizerOptions(LearningRate: 0, GradClip: 0), new PolicyLossOptions());
        var metrics = trainer.TrainStep(
        [
            new PolicySample([3, 4], [5, 6, 7], [-1f, -2f, -3f], 1f),
            new PolicySample([8], [9, 10, 11, 12, 13], [-2f, -1f, -2f, -1f, -2f], -0.5f, [true, true, false, true, true]),
        ]);
        return ([.. model.parameters().SelectMany(p => p.grad!.data<float>().ToArray())], metrics);
    }

    [Fact]
    public void Checkpointing_and_sdpa_give_the_same_gradients()
    {
        var (plain, plainMetrics) = Step(sdpa: false, checkpoint: false);
        var (checkpointed, checkpointedMetrics) = Step(sdpa: false, checkpoint: true);
        AssertClose(plain, checkpointed, 1e-6, "checkpointed gradients");
        Assert.Equal(plainMetrics.Loss, checkpointedMetrics.Loss, 6);
        output.WriteLine($"checkpointed gradients bitwise equal: {plain.SequenceEqual(checkpointed)}");
        var (sdpa, _) = Step(sdpa: true, checkpoint: false);
        AssertClose(plain, sdpa, 1e-5, "SDPA gradients");
        var (both, _) = Step(sdpa: true, checkpoint: true);
        AssertClose(plain, both, 1e-5, "SDPA + checkpointing gradients");
    }

    [Fact]
    public void Checkpointing_leaves_inference_alone()
    {
        var model = TinyModels.Make(5);
        var expected = Logits(model, sdpa: false);
        model.ActivationCheckpointing = true;
        Assert.Equal(expected, Logits(model, sdpa: false));
    }

    [Fact]
    public void Attention_benchmark_runs_and_agrees()
    {
        var sizes = Environment.GetEnvironmentVariable("RORECOMP_ATTENTION_BENCH") == "1"
            ? new[] { ("tiny, 64 x 128", TransformerConfig.Tiny(64), 64, 128), ("hidden 512, 8 layers, 8 x 256", new TransformerConfig(64, 512, 1408, 8, 8, 2, 512), 8, 256) }
            : [("tiny, 2 x 16", TransformerConfig.Tiny(32), 2, 16)];
        foreach (var (name, config, rows, length) in sizes)
        {
            AttentionBenchResult r;
            lock (TinyModels.GlobalRng) r = ModelBenchmark.CompareAttention(config, rows, length, repeats: 3);
            output.WriteLine(
                $"{name}: forward explicit {r.ExplicitForward * 1000:F1} ms, SDPA {r.SdpaForward * 1000:F1} ms; " +
                $"forward+backward explicit {r.ExplicitTrain * 1000:F1} ms, SDPA {r.SdpaTrain * 1000:F1} ms, checkpointed {r.CheckpointedTrain * 1000:F1} ms; " +
                $"max |logit difference| {r.MaxLogitDifference:E2}");
            Assert.True(r.MaxLogitDifference < 1e-3);
        }
    }
}
