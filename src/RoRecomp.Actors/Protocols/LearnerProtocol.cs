using System.Collections.Immutable;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Metrics;
using RoRecomp.Core.Training;
using RoRecomp.Training.Steps;

namespace RoRecomp.Actors.Protocols;

// The learner's protocol:
//   receives  LoadPolicy (coordinator)      -> PolicyLoaded (newest loadable checkpoint, else the warm start)
//             TrainOnStep (recomposer)      -> StepTrained to the coordinator
//   sends     DrawCompensationBatch, GetBufferStats (replay buffer); PublishPolicy (policy publisher) after every load
//             and every step
//   writes    checkpoints (model + optimizer + RNG), committed by the coordinator's journal

/// <summary>
/// Load the policy to continue from: the first of <paramref name="Candidates"/> (newest first) that loads and verifies,
/// else the run's configured warm start (<c>model.checkpoint</c>, never a path from a message).
/// </summary>
/// <param name="Candidates">Committed checkpoints, newest first.</param>
/// <param name="TotalSteps">Steps of the run (for the compensation weight schedule and the final checkpoint).</param>
public sealed record LoadPolicy(ImmutableArray<RunCheckpoint> Candidates, long TotalSteps) : IRoRecompMessage;

/// <summary>The learner continues from <paramref name="From"/> (null = the warm start) at <paramref name="PolicyVersion"/>.</summary>
/// <param name="From">The checkpoint loaded, or null for the warm start.</param>
/// <param name="PolicyVersion">Current policy version.</param>
/// <param name="Skipped">Candidates that failed to load, with the reason.</param>
public sealed record PolicyLoaded(RunCheckpoint? From, long PolicyVersion, ImmutableArray<string> Skipped) : IRoRecompMessage;

/// <summary>Train on step <c>Online.Step</c>: the priority (or online) batch, then a compensation batch when due.</summary>
public sealed record TrainOnStep(TrainingBatch Priority, StepMetrics Online) : IRoRecompMessage;

/// <summary>The learner finished step <c>Online.Step</c>; <paramref name="CheckpointPath"/> is set when it wrote a checkpoint.</summary>
/// <param name="Online">The online batch's metrics, with the compensation size and buffer size filled in.</param>
/// <param name="Learner">The update's metrics.</param>
/// <param name="CheckpointPath">Checkpoint directory written after the step, or null.</param>
public sealed record StepTrained(StepMetrics Online, LearnerMetrics Learner, string? CheckpointPath) : IRoRecompMessage;
