using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;
using static TorchSharp.torch;

namespace RoRecomp.Model.Training;

/// <summary>Optimizer and schedule settings (HOCON <c>rorecomp.policy-loss.*</c> / <c>rorecomp.model.*</c>).</summary>
/// <param name="LearningRate">Peak learning rate.</param>
/// <param name="WarmupSteps">Linear warm-up steps.</param>
/// <param name="TotalSteps">Steps of the cosine decay (0 = constant after warm-up).</param>
/// <param name="MinLearningRateRatio">Learning rate at <paramref name="TotalSteps"/>, as a fraction of the peak.</param>
/// <param name="WeightDecay">AdamW weight decay.</param>
/// <param name="GradClip">Global gradient-norm clip (0 = off).</param>
/// <param name="MicroBatchSize">Sequences per micro-batch when <paramref name="MaxTokensPerMicroBatch"/> is 0.</param>
/// <param name="Beta1">AdamW beta1.</param>
/// <param name="Beta2">AdamW beta2.</param>
/// <param name="MaxTokensPerMicroBatch">
/// Token budget of a micro-batch (HOCON <c>rorecomp.policy-loss.max-tokens-per-micro-batch</c>): micro-batches are
/// packed so that rows x longest prompt + response stays within it, and <paramref name="MicroBatchSize"/> is not used;
/// a longer single sequence is trained alone (see <see cref="MicroBatches.Plan"/>). 0 = off: count-based micro-batches.
/// </param>
public sealed record OptimizerOptions(
    double LearningRate = 1e-4,
    int WarmupSteps = 0,
    int TotalSteps = 0,
    double MinLearningRateRatio = 0.1,
    double WeightDecay = 0.0,
    double GradClip = 1.0,
    int MicroBatchSize = 64,
    double Beta1 = 0.9,
    double Beta2 = 0.999,
    int MaxTokensPerMicroBatch = 0)
{
    /// <summary>
    /// Linear warm-up over <see cref="WarmupSteps"/>, then cosine decay to <see cref="MinLearningRateRatio"/> times the peak at
    /// <see cref="TotalSteps"/> (constant after warm-up when TotalSteps is 0). <paramref name="step"/> counts from 0.
    /// </summary>
    public double LearningRateAt(long step)
    {
        if (WarmupSteps > 0 && step < WarmupSteps) return LearningRate * (step + 1) / WarmupSteps;
        if (TotalSteps <= WarmupSteps) return LearningRate;
        var p = Math.Clamp((double)(step - WarmupSteps) / (TotalSteps - WarmupSteps), 0, 1);
        var min = LearningRate * MinLearningRateRatio;
        return min + ((LearningRate - min) * 0.5 * (1 + Math.Cos(Math.PI * p)));
    }
}

/// <summary>A response to train on with its behaviour log-probs and advantage.</summary>
public sealed record PolicySample(int[] Prompt, int[] Response, float[] BehaviourLogProbs, float Advantage, bool[]? ActionMask = null);

/// <summary>What one update did.</summary>
public sealed record TrainMetrics(double Loss, double ClipFraction, double ApproxKl, double Entropy, double GradNorm, double LearningRate, int Tokens);

/// <summary>
/// Updates the policy: the clipped surrogate (RL) or next-token cross-entropy (SFT), micro-batched with gradient
/// accumulation (by count or by a token budget, <see cref="MicroBatches"/>; each micro-batch's loss is normalised by
/// the whole batch's counts, so the update and the reported metrics equal one big batch's up to float rounding),
/// gradient-norm clipping and the warm-up + cosine LR.
/// Owns its <see cref="AdamW"/>. One instance per model; not thread-safe.
/// </summary>
public sealed class PolicyTrainer : IDisposable
{
    private readonly PolicyTransformer _model;

    public PolicyTrainer(PolicyTransformer model, OptimizerOptions optimizer, PolicyLossOptions loss, int padId = 0, double temperature = 1.0)
    {
        LossAggregation.Validate(loss.AggregationMode);
        if (optimizer.MicroBatchSize < 1) throw new ArgumentException($"micro-batch-size = {optimizer.MicroBatchSize}: must be >= 1");
        if (optimizer.MaxTokensPerMicroBatch < 0)
            throw new ArgumentException($"max-tokens-per-micro-batch = {optimizer.MaxTokensPerMicroBatch}: must be >= 0 (0 = off)");
        _model = model;
        Options = optimizer;
        Loss = loss;
        PadId = padId;
        Temperature = temperature;
        Optimizer = new AdamW(model.named_parameters(), optimizer.Beta1, optimizer.Beta2, 1e-8, optimizer.WeightDecay);
    }

    public OptimizerOptions Options { get; }

    public PolicyLossOptions Loss { get; }

    public int PadId { get; }

    public double Temperature { get; }

    /// <summary>The optimizer (its state goes into checkpoints).</summary>
    public AdamW Optimizer { get; }

    /// <summary>
    /// One RL update on <paramref name="batch"/>, the loss multiplied by <paramref name="weight"/> (compensation batches);
    /// <paramref name="reference"/> enables the KL term when the options give it a coefficient.
    /// </summary>
    public TrainMetrics TrainStep(IReadOnlyList<PolicySample> batch, double weight = 1.0, PolicyTransformer? reference = null)
    {
        if (batch.Count == 0) throw new ArgumentException("empty training batch", nameof(batch));
        foreach (var (s, i) in batch.Select((s, i) => (s, i)))
        {
            if (s.BehaviourLogProbs.Length != s.Response.Length)
                throw new ArgumentException($"sample {i}: {s.BehaviourLogProbs.Length} behaviour log-probs for {s.Response.Length} response tokens");
        }
        var totalTokens = batch.Sum(s => s.ActionMask?.Count(x => x) ?? s.Response.Length);
        // The sum-norm length is the whole batch's, not each micro-batch's width, so micro-batching changes nothing.
        var normLength = Loss.NormLength > 0 ? Loss.NormLength : Math.Max(1, batch.Max(s => s.Response.Length));
        var device = _model.parameters().First().device;
        double loss = 0, clip = 0, kl = 0, entropy = 0;
        _model.train();
        Optimizer.ZeroGrad();
        foreach (var micro in Split(batch, s => s.Prompt.Length + s.Response.Length))
        {
            using var scope = NewDisposeScope();
            var seqs = micro.Select(s => new ScoredSequence(s.Prompt, s.Response, s.ActionMask)).ToList();
            var scores = LogProbs.Compute(_model, seqs, Temperature, PadId);
            var r = scores.LogProbs.shape[1];
            var old = tensor(micro.SelectMany(s => Pad(s.BehaviourLogProbs, (int)r)).ToArray(), [micro.Length, r], device: device);
            var adv = tensor(micro.Select(s => s.Advantage).ToArray(), device: device);
            Tensor? refLp = null;
            if (reference is not null && Loss.KlCoefficient > 0)
            {
                using var ng = no_grad();
                refLp = LogProbs.Compute(reference, seqs, Temperature, PadId).LogProbs;
            }
            var (perToken, clipped) = PolicyLoss.PerToken(scores.LogProbs, old, adv, Loss, refLp);
            using var k = new ScalarScope();
            var part = LossAggregation.Aggregate(perToken, scores.Mask, Loss.AggregationMode, totalTokens, batch.Count, normLength) * k.Of(weight);
            part.backward();
            loss += part.item<float>();
            var m = scores.Mask;
            clip += (clipped * m).sum().item<float>();
            kl += ((old - scores.LogProbs) * m).sum().item<float>();   // E[log(old/new)]: the usual approx-KL monitor
            entropy += (scores.Entropy * m).sum().item<float>();
        }
        var (gradNorm, lr) = Apply();
        var n = Math.Max(totalTokens, 1);
        return new TrainMetrics(loss, clip / n, kl / n, entropy / n, gradNorm, lr, totalTokens);
    }

    /// <summary>One supervised step: mean cross-entropy of the target tokens given their prompts.</summary>
    public TrainMetrics SftStep(IReadOnlyList<(int[] Prompt, int[] Target)> batch)
    {
        if (batch.Count == 0) throw new ArgumentException("empty SFT batch", nameof(batch));
        var totalTokens = batch.Sum(s => s.Target.Length);
        double loss = 0, entropy = 0;
        _model.train();
        Optimizer.ZeroGrad();
        foreach (var micro in Split(batch, s => s.Prompt.Length + s.Target.Length))
        {
            using var scope = NewDisposeScope();
            var scores = LogProbs.Compute(_model, [.. micro.Select(s => new ScoredSequence(s.Prompt, s.Target))], 1.0, PadId);
            using var k = new ScalarScope();
            var part = -(scores.LogProbs * scores.Mask).sum() / k.Of(Math.Max(totalTokens, 1));
            part.backward();
            loss += part.item<float>();
            entropy += (scores.Entropy * scores.Mask).sum().item<float>();
        }
        var (gradNorm, lr) = Apply();
        return new TrainMetrics(loss, 0, 0, entropy / Math.Max(totalTokens, 1), gradNorm, lr, totalTokens);
    }

    private (double GradNorm, double Lr) Apply()
    {
        var gradNorm = Options.GradClip > 0
            ? nn.utils.clip_grad_norm_(Optimizer.Parameters, Options.GradClip)
            : nn.utils.clip_grad_norm_(Optimizer.Parameters, float.MaxValue); // off: measure only (max_norm must fit a float)
        var lr = Options.LearningRateAt(Optimizer.StepCount);
        Optimizer.Step(lr);
        return (gradNorm, lr);
    }

    private IEnumerable<T[]> Split<T>(IReadOnlyList<T> batch, Func<T, int> length) =>
        MicroBatches.Split(batch, length, Options.MicroBatchSize, Options.MaxTokensPerMicroBatch);

    private static IEnumerable<float> Pad(float[] xs, int width) => xs.Concat(Enumerable.Repeat(0f, width - xs.Length));

    /// <inheritdoc />
    public void Dispose() => Optimizer.Dispose();
}
