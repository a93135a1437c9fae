using System.Collections.Immutable;
using RoRecomp.Actors.Serialization;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Metrics;

namespace RoRecomp.Actors.Coordination;

// The run coordinator's protocol:
//   receives  RequestWork (sampler)         -> LeaseGranted now, or when a lease is free (samplers pull)
//             LeaseCompleted (recomposer)   the lease's groups arrived: its timeout is cancelled
//             StepTrained (learner)         the step is done: commit its checkpoint (journaled), evaluate if due, report
//             PolicyLoaded, PolicyEvaluated (learner, see LearnerProtocol.cs)
//             RunFailed (any actor)         the run stops with that reason
//   sends     StepOpened (recomposer), LoadPolicy, EvaluatePolicy (learner)
//   journals  CheckpointCommitted (RoRecomp.Core.Coordination)

/// <summary>A sampler asks for work; the coordinator answers with <see cref="LeaseGranted"/> as soon as a lease is free.</summary>
public sealed record RequestWork(string SamplerId) : IRoRecompMessage;

/// <summary>A lease for the sampler that asked; <paramref name="Task"/> names the run's task (a sampler configured for another refuses).</summary>
public sealed record LeaseGranted(WorkLease Lease, string Task) : IRoRecompMessage;

/// <summary>The recomposer received every group of a lease (the first time); the coordinator stops its timeout.</summary>
public sealed record LeaseCompleted(string LeaseId, long Step) : IRoRecompMessage;

/// <summary>What the learner did in one update step (beside the online batch's <see cref="StepMetrics"/>).</summary>
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
    double CompensationLoss, double CompensationWeight, double TrainSeconds) : IRoRecompMessage;

/// <summary>The learner finished step <c>Online.Step</c>; <paramref name="CheckpointPath"/> is set when it wrote a checkpoint.</summary>
/// <param name="Online">The online batch's metrics, with the compensation size and buffer size filled in.</param>
/// <param name="Learner">The update's metrics.</param>
/// <param name="CheckpointPath">Checkpoint directory written after the step, or null.</param>
public sealed record StepTrained(StepMetrics Online, LearnerMetrics Learner, string? CheckpointPath) : IRoRecompMessage;

/// <summary>An actor of the pipeline hit an error it cannot recover from; the run stops and can be resumed.</summary>
public sealed record RunFailed(string Reason) : IRoRecompMessage;

/// <summary>The coordinator's answer to <see cref="GetRunStatus"/>.</summary>
public sealed record RunStatus(long TrainedStep, long PolicyVersion, long Cursor, int QueuedLeases, int OutstandingLeases, int IdleSamplers, ImmutableArray<RunCheckpoint> Checkpoints) : IRoRecompMessage;

/// <summary>Ask the coordinator where the run is (tests, status displays).</summary>
public sealed record GetRunStatus : IRoRecompMessage
{
    /// <summary>The single instance.</summary>
    public static readonly GetRunStatus Instance = new();
}
