using RoRecomp.Core.Recomposition;
using RoRecomp.Core.Rewards;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Schedules;

namespace RoRecomp.Settings;

/// <summary>Maps settings (every value already checked by <see cref="SettingsLoader"/>) to Core's option records.</summary>
public static class SettingsMapping
{
    /// <summary><c>rorecomp.buffer.*</c>, <c>compensation.draw-order</c> and <c>run.seed</c> as <see cref="ReplayBufferOptions"/>.</summary>
    public static ReplayBufferOptions ReplayBuffer(RoRecompSettings s) => new ReplayBufferOptions(
        s.Buffer.Capacity,
        s.Buffer.MaxStaleness,
        SettingNames.Parse<DrawOrder>(s.Compensation.DrawOrder),
        s.Run.Seed);

    /// <summary>
    /// How many recent steps the train job's replay buffer keeps apart so that a resume can take it back to any
    /// checkpoint still on disk (<see cref="ReplayBufferOptions.RewindSteps"/>): <c>checkpoint.every</c> x
    /// <c>checkpoint.keep-last</c> + <c>async.max-policy-lag</c> + 1; every step when checkpoints are written only at the
    /// end (<c>every = 0</c>: a resume starts from the warm start).
    /// </summary>
    public static long BufferRewindSteps(RoRecompSettings s) =>
        s.Checkpoint.Every > 0 ? ((long)s.Checkpoint.Every * s.Checkpoint.KeepLast) + s.Async.MaxPolicyLag + 1 : long.MaxValue;

    /// <summary>
    /// <c>rorecomp.compensation.*</c> as the learner's <see cref="CompensationSchedule"/>: off with recomposition off or
    /// <c>every = 0</c>.
    /// </summary>
    public static CompensationSchedule Compensation(RoRecompSettings s) => new CompensationSchedule(
        Enabled: s.Recomposition.Enabled && s.Compensation.Every > 0,
        Every: Math.Max(1, s.Compensation.Every),
        BatchSize: s.Compensation.BatchSize,
        Schedule: SettingNames.Parse<WeightSchedule>(s.Compensation.WeightSchedule),
        WeightStart: s.Compensation.WeightStart,
        WeightEnd: s.Compensation.WeightEnd);

    /// <summary><c>rorecomp.recomposition.*</c> and <c>rorecomp.algorithm.*</c> as <see cref="RecompositionOptions"/>.</summary>
    public static RecompositionOptions Recomposition(RoRecompSettings s) => new RecompositionOptions(
        s.Recomposition.Enabled,
        SettingNames.Parse<RankScope>(s.Recomposition.Scope),
        s.Recomposition.PriorityFraction,
        SettingNames.Parse<LengthKey>(s.Recomposition.LengthKey),
        SettingNames.Parse<AdvantageScope>(s.Recomposition.AdvantageScope),
        s.Algorithm.AdvantageEstimator,
        s.Algorithm.Eps);

    /// <summary><c>rorecomp.reward.*</c> (with <c>sampling.max-new-tokens</c>) as the length-penalty arm's <see cref="Core.Rewards.RewardShaping"/>.</summary>
    public static RewardShaping RewardShaping(RoRecompSettings s) =>
        new(s.Reward.LengthPenalty, s.Reward.TargetLength, s.Sampling.MaxNewTokens);
}
