namespace RoRecomp.Core.Schedules;

/// <summary>How the compensation weight moves over the run.</summary>
public enum WeightSchedule
{
    /// <summary>Always <see cref="CompensationSchedule.WeightStart"/>.</summary>
    Constant,

    /// <summary>Linear from start to end over the run.</summary>
    Linear,

    /// <summary>Half-cosine from start to end over the run.</summary>
    Cosine,
}

/// <summary>
/// When the learner draws a compensation batch, how large, and with what loss weight
/// (HOCON <c>rorecomp.compensation.*</c>). Steps count from 1.
/// </summary>
/// <param name="Enabled">false = priority batch only (the paper's unstable ablation).</param>
/// <param name="Every">Draw on steps that are multiples of this (1 = every step).</param>
/// <param name="BatchSize">Responses per compensation batch; no draw until the buffer holds this many.</param>
/// <param name="Schedule">Weight schedule.</param>
/// <param name="WeightStart">Weight at step 0.</param>
/// <param name="WeightEnd">Weight at the last step (linear, cosine).</param>
public sealed record CompensationSchedule(
    bool Enabled = true,
    int Every = 1,
    int BatchSize = 64,
    WeightSchedule Schedule = WeightSchedule.Constant,
    double WeightStart = 1.0,
    double WeightEnd = 1.0)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the bad value.</summary>
    public CompensationSchedule Validate()
    {
        if (Every < 1) throw new ArgumentException($"compensation every = {Every}: must be >= 1");
        if (BatchSize < 1) throw new ArgumentException($"compensation batch-size = {BatchSize}: must be >= 1");
        if (!(WeightStart >= 0) || !double.IsFinite(WeightStart)) throw new ArgumentException($"compensation weight-start = {WeightStart}: must be finite and >= 0");
        if (!(WeightEnd >= 0) || !double.IsFinite(WeightEnd)) throw new ArgumentException($"compensation weight-end = {WeightEnd}: must be finite and >= 0");
        return this;
    }

    /// <summary>Whether step <paramref name="step"/> draws a compensation batch given the buffer's size.</summary>
    public bool ShouldDraw(long step, int buffered) => Enabled && step >= 1 && step % Every == 0 && buffered >= BatchSize;

    /// <summary>
    /// Whether the weight moves with progress through the run (<see cref="Weight"/> reads <c>totalSteps</c>), so a run
    /// that stopped at its last step cannot be continued into the run a larger step count would have been.
    /// </summary>
    public bool FollowsRunLength => Schedule != WeightSchedule.Constant;

    /// <summary>The loss weight at <paramref name="step"/> of <paramref name="totalSteps"/> (progress clamped to [0, 1]).</summary>
    public double Weight(long step, long totalSteps)
    {
        var p = totalSteps <= 0 ? 1.0 : Math.Clamp((double)step / totalSteps, 0.0, 1.0);
        return Schedule switch
        {
            WeightSchedule.Constant => WeightStart,
            WeightSchedule.Linear => WeightStart + ((WeightEnd - WeightStart) * p),
            WeightSchedule.Cosine => WeightEnd + ((WeightStart - WeightEnd) * (1 + Math.Cos(Math.PI * p)) / 2),
            _ => throw new ArgumentOutOfRangeException(nameof(Schedule), Schedule, "unknown weight schedule"),
        };
    }
}
