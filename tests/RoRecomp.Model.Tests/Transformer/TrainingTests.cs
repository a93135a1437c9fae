using RoRecomp.Model.Training;
using static TorchSharp.torch;

namespace RoRecomp.Model.Tests.Transformer;

public class TrainingTests
{
    private static float SumLogProb(RoRecomp.Model.Transformer.PolicyTransformer model, int[] prompt, int[] response)
    {
        using var scope = NewDisposeScope();
        using var ng = no_grad();
        return LogProbs.Compute(model, [new ScoredSequence(prompt, response)]).LogProbs.sum().item<float>();
    }

    [Theory]
    [InlineData(1f)]
    [InlineData(-1f)]
    public void A_step_moves_the_log_prob_with_the_sign_of_the_advantage(float advantage)
    {
        var model = TinyModels.Make(5);
        int[] prompt = [3, 4, 5], response = [6, 7, 8, 9];
        var before = SumLogProb(model, prompt, response);
        float[] behaviour;
        using (var s = NewDisposeScope())
        using (var ng = no_grad())
        {
            behaviour = LogProbs.Compute(model, [new ScoredSequence(prompt, response)]).LogProbs[0].data<float>().ToArray();
        }
        using var trainer = new PolicyTrainer(model, new OptimizerOptions(LearningRate: 1e-3), new PolicyLossOptions());
        var m = trainer.TrainStep([new PolicySample(prompt, response, behaviour, advantage)]);
        var after = SumLogProb(model, prompt, response);
        Assert.True(advantage > 0 ? after > before : after < before, $"log-prob {before} -> {after} with advantage {advantage}");
        Assert.Equal(0, m.ClipFraction);          // first step: ratio 1, nothing clipped
        Assert.InRange(m.ApproxKl, -1e-5, 1e-5);
    }

    [Theory]
    [InlineData(LossAggregation.TokenMean)]
    [InlineData(LossAggregation.SeqMeanTokenMean)]
    [InlineData(LossAggregation.SeqMeanTokenSumNorm)]
    public void Micro_batching_gives_the_full_batch_gradient(string mode)
    {
        var batch = new[]
        {
            new PolicySample([3, 4], [5, 6, 7], [-1f, -2f, -3f], 1f),
            new PolicySample([8], [9, 10], [-2f, -1f], -0.5f),
            new PolicySample([11, 12, 13], [14, 15, 16, 17, 18], [-1f, -1f, -1f, -1f, -1f], 0.3f, [true, true, false, true, true]),
        };
        Dictionary<string, float[]> Grads(int micro)
        {
            var model = TinyModels.Make(6);
            var trainer = new PolicyTrainer(model, new OptimizerOptions(LearningRate: 0, MicroBatchSize: micro, GradClip: 0), new PolicyLossOptions(AggregationMode: mode, EpsLow: 10, EpsHigh: 10));
            trainer.TrainStep(batch);
            return model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.data<float>().ToArray());
        }
        var full = Grads(3);
        var micro = Grads(1);
        foreach (var (name, g) in full) Assert.Equal(g, micro[name], (x, y) => Math.Abs(x - y) < 1e-5 + (1e-4 * Math.Abs(x)));
    }

    [Fact]
    public void Loss_aggregation_modes_on_a_hand_computed_example()
    {
        using var scope = NewDisposeScope();
        var loss = tensor(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        var mask = tensor(new float[] { 1, 1, 0, 1, 1, 1 }, [2, 3]);
        float Agg(string mode, int norm = 0) => LossAggregation.Aggregate(loss, mask, mode, 5, 2, norm).item<float>();
        Assert.Equal((1 + 2 + 4 + 5 + 6) / 5f, Agg(LossAggregation.TokenMean), 5);
        Assert.Equal(((3 / 2f) + (15 / 3f)) / 2, Agg(LossAggregation.SeqMeanTokenMean), 5);
        Assert.Equal(18f / (2 * 3), Agg(LossAggregation.SeqMeanTokenSumNorm), 5);
        Assert.Equal(18f / (2 * 10), Agg(LossAggregation.SeqMeanTokenSumNorm, 10), 5);
        Assert.Contains("known: seq-mean-token-mean", Assert.Throws<ArgumentException>(() => LossAggregation.Validate("mean")).Message);
    }

    [Fact]
    public void Clipping_stops_the_gradient_past_the_trust_region()
    {
        using var scope = NewDisposeScope();
        var lp = tensor(new float[] { 0f, 0f }, [1, 2], requires_grad: true);
        var old = tensor(new float[] { -1f, 0f }, [1, 2]);   // ratio e = 2.72 (clipped for A > 0), 1 (inside)
        var (loss, clipped) = PolicyLoss.PerToken(lp, old, tensor(new float[] { 1f }), new PolicyLossOptions());
        loss.sum().backward();
        Assert.Equal(new float[] { 1, 0 }, clipped.data<float>().ToArray());
        var g = lp.grad!.data<float>().ToArray();
        Assert.Equal(0f, g[0]);
        Assert.Equal(-1f, g[1], 5);
    }

    [Fact]
    public void Sft_drives_the_loss_down_and_the_lr_schedule_warms_up_then_decays()
    {
        var model = TinyModels.Make(7);
        using var trainer = new PolicyTrainer(model, new OptimizerOptions(LearningRate: 3e-3), new PolicyLossOptions());
        var data = Enumerable.Range(0, 8).Select(i => (new[] { 2 + i }, new[] { 10 + i, 11 + i, 1 })).ToArray();
        var first = trainer.SftStep(data).Loss;
        double last = first;
        for (var i = 0; i < 60; i++) last = trainer.SftStep(data).Loss;
        Assert.True(last < first * 0.3, $"SFT loss {first} -> {last}");

        var o = new OptimizerOptions(LearningRate: 1.0, WarmupSteps: 10, TotalSteps: 110, MinLearningRateRatio: 0.1);
        Assert.Equal(0.1, o.LearningRateAt(0), 9);
        Assert.Equal(1.0, o.LearningRateAt(9), 9);
        Assert.Equal(0.55, o.LearningRateAt(60), 9);
        Assert.Equal(0.1, o.LearningRateAt(110), 9);
    }
}
