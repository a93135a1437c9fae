using RoRecomp.Core.Recomposition;
using RoRecomp.Core.Rewards;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Schedules;

namespace RoRecomp.Settings;

/// <summary>Maps validated settings to Core's option records.</summary>
public static class SettingsMapping
{
    /// <summary><c>rorecomp.buffer.*</c>, <c>compensation.draw-order</c> and <c>run.seed</c> as <see cref="ReplayBufferOptions"/>.</summary>
    public static ReplayBufferOptions ReplayBuffer(RoRecompSettings s) => new ReplayBufferOptions(
        s.Buffer.Capacity,
        s.Buffer.MaxStaleness,
        s.Compensation.DrawOrder == "uniform" ? DrawOrder.Uniform : DrawOrder.OldestFirst,
        s.Run.Seed).Validate();

    /// <summary>
    /// <c>rorecomp.compensation.*</c> as the learner's <see cref="CompensationSchedule"/>: off with recomposition off or
    /// <c>every = 0</c>.
    /// </summary>
    public static CompensationSchedule Compensation(RoRecompSettings s) => new CompensationSchedule(
        Enabled: s.Recomposition.Enabled && s.Compensation.Every > 0,
        Every: Math.Max(1, s.Compensation.Every),
        BatchSize: s.Compensation.BatchSize,
        Schedule: Enum.Parse<WeightSchedule>(s.Compensation.WeightSchedule, ignoreCase: true),
        WeightStart: s.Compensation.WeightStart,
        WeightEnd: s.Compensation.WeightEnd).Validate();

    /// <summary><c>rorecomp.recomposition.*</c> and <c>rorecomp.algorithm.*</c> as <see cref="RecompositionOptions"/>.</summary>
    public static RecompositionOptions Recomposition(RoRecompSettings s) => new RecompositionOptions(
        s.Recomposition.Enabled,
        s.Recomposition.Scope == "group" ? RankScope.Group : RankScope.Batch,
        s.Recomposition.PriorityFraction,
        s.Recomposition.LengthKey == "tool-calls-then-tokens" ? LengthKey.ToolCallsThenTokens : LengthKey.Tokens,
        s.Recomposition.AdvantageScope == "original" ? AdvantageScope.Original : AdvantageScope.Recomposed,
        s.Algorithm.AdvantageEstimator,
        s.Algorithm.Eps).Validate();

    /// <summary><c>rorecomp.reward.*</c> (with <c>sampling.max-new-tokens</c>) as the length-penalty arm's <see cref="Core.Rewards.RewardShaping"/>.</summary>
    public static RewardShaping RewardShaping(RoRecompSettings s) =>
        new(s.Reward.LengthPenalty, s.Reward.TargetLength, s.Sampling.MaxNewTokens);
}
