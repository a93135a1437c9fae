using RoRecomp.Core.Replay;
using RoRecomp.Core.Schedules;
using RoRecomp.Core.Training;
using RoRecomp.Model.Training;
using RoRecomp.Model.Transformer;
using RoRecomp.Settings;

namespace RoRecomp.Training.Steps;

/// <summary>What the learner did in one update step (beside the online batch's <c>StepMetrics</c>).</summary>
/// <param name="Loss">Priority (or online) batch loss.</param>
/// <param name="Entropy">Mean token entropy of the priority batch under the updated-from policy.</param>
/// <param name="ClipFraction">Share of clipped tokens.</param>
/// <param name="ApproxKl">Approximate KL between the behaviour and the current policy.</param>
/// <param name="GradNorm">Gradient norm before clipping.</param>
/// <param name="LearningRate">Learning rate used.</param>
/// <param name="CompensationLoss">Compensation batch loss (0 when none was drawn).</param>
/// <param name="CompensationWeight">Compensation loss weight of this step's schedule.</param>
/// <param name="TrainSeconds">Wall seconds the learner spent on the step.</param>
public sealed record LearnerMetrics(
    double Loss, double Entropy, double ClipFraction, double ApproxKl, double GradNorm, double LearningRate,
    double CompensationLoss, double CompensationWeight, double TrainSeconds);

/// <summary>What <see cref="PolicyUpdate.RunAsync"/> did in one step.</summary>
/// <param name="Priority">The priority (or online) batch update's metrics; null when that batch had nothing to train on.</param>
/// <param name="CompensationLoss">Compensation batch loss (0 when none was trained on).</param>
/// <param name="Weight">The schedule's compensation weight at this step.</param>
/// <param name="CompensationSize">Responses drawn from the replay buffer (0 when none were).</param>
public sealed record LearnerUpdate(TrainMetrics? Priority, double CompensationLoss, double Weight, int CompensationSize)
{
    /// <summary>The step's <see cref="LearnerMetrics"/>, with <paramref name="trainSeconds"/> as the time the learner spent.</summary>
    public LearnerMetrics Metrics(double trainSeconds)
    {
        var pm = Priority;
        return new LearnerMetrics(
            pm?.Loss ?? 0, pm?.Entropy ?? 0, pm?.ClipFraction ?? 0, pm?.ApproxKl ?? 0, pm?.GradNorm ?? 0, pm?.LearningRate ?? 0,
            CompensationLoss, CompensationSize > 0 ? Weight : 0, trainSeconds);
    }
}

/// <summary>
/// One learner step: the clipped-surrogate update on the priority (or online) batch, then, when the compensation
/// schedule says so, on a batch drawn from the replay buffer with advantages recomputed inside it and the schedule's
/// weight.
/// </summary>
public static class PolicyUpdate
{
    /// <summary>The learner's trainer for <paramref name="model"/>: AdamW and the clipped-surrogate loss of <c>rorecomp.policy-loss.*</c>.</summary>
    public static PolicyTrainer CreateTrainer(PolicyTransformer model, RoRecompSettings s, int padId) => new(
        model,
        new OptimizerOptions(
            LearningRate: s.PolicyLoss.Lr, WarmupSteps: s.PolicyLoss.WarmupSteps, TotalSteps: 0, WeightDecay: s.PolicyLoss.WeightDecay,
            GradClip: s.PolicyLoss.GradClip, MicroBatchSize: s.PolicyLoss.MicroBatchSize, MaxTokensPerMicroBatch: s.PolicyLoss.MaxTokensPerMicroBatch),
        new PolicyLossOptions(s.PolicyLoss.ClipEpsLow, s.PolicyLoss.ClipEpsHigh, s.PolicyLoss.LossAggMode, s.PolicyLoss.KlCoef),
        padId,
        s.Sampling.Temperature);

    /// <summary>
    /// The updates of one learner step at policy <paramref name="policyVersion"/>: on the priority (or online) batch, then,
    /// when <paramref name="schedule"/> says step <paramref name="step"/> draws, on a compensation batch that
    /// <paramref name="draw"/> answers (the replay buffer), with advantages recomputed inside it and the schedule's
    /// weight. Does not count the policy version up.
    /// </summary>
    public static async Task<LearnerUpdate> RunAsync(
        PolicyTrainer trainer, PolicyTransformer? reference, CompensationSchedule schedule, AlgorithmSettings algorithm,
        TrainingBatch priority, long step, long totalSteps, long policyVersion, Func<DrawCompensationBatch, Task<IReplayBufferReply>> draw)
    {
        var samples = ToSamples(priority);
        TrainMetrics? pm = samples.Count > 0 ? trainer.TrainStep(samples, priority.Weight, reference) : null;
        double compLoss = 0, weight = schedule.Weight(step, totalSteps);
        var compensationSize = 0;
        if (schedule.Enabled && step % schedule.Every == 0)
        {
            var reply = await draw(new DrawCompensationBatch(schedule.BatchSize, policyVersion, step));
            if (reply is CompensationDrawn drawn)
            {
                compensationSize = drawn.Responses.Length;
                var batch = CompensationBatches.Build(drawn.Responses, algorithm.AdvantageEstimator, algorithm.Eps, weight);
                var compensation = ToSamples(batch);
                if (weight > 0 && compensation.Count > 0) compLoss = trainer.TrainStep(compensation, weight, reference).Loss;
            }
        }
        return new LearnerUpdate(pm, compLoss, weight, compensationSize);
    }

    private static List<PolicySample> ToSamples(TrainingBatch batch) =>
        [.. batch.Samples.Where(s => s.Response.Length > 0).Select(s => new PolicySample(
            [.. s.Response.PromptTokens], [.. s.Response.Tokens], [.. s.Response.LogProbs], (float)s.Advantage,
            s.Response.ActionMask.IsDefaultOrEmpty ? null : [.. s.Response.ActionMask]))];
}
