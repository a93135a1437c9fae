using System.Collections.Immutable;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Core.Training;

/// <summary>Where a training batch comes from.</summary>
public enum BatchKind
{
    /// <summary>The whole online batch with its group advantages (plain GRPO: recomposition off).</summary>
    Online,

    /// <summary>RoRecomp's priority batch: short-correct + long-incorrect responses of the online batch.</summary>
    Priority,

    /// <summary>A compensation batch drawn from the replay buffer.</summary>
    Compensation,
}

/// <summary>A response with the advantage the learner trains it with.</summary>
public sealed record TrainSample(Response Response, double Advantage);

/// <summary>What the learner receives for one update; <paramref name="Weight"/> multiplies the loss.</summary>
public sealed record TrainingBatch(BatchKind Kind, ImmutableArray<TrainSample> Samples, double Weight = 1.0)
{
    /// <summary>Number of samples.</summary>
    public int Count => Samples.IsDefault ? 0 : Samples.Length;
}
