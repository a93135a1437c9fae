using System.Collections.Immutable;
using RoRecomp.Core.Coordination;

namespace RoRecomp.Actors.Protocols;

// The run coordinator's protocol:
//   receives  RequestWork (sampler)         -> LeaseGranted now, or when a lease is free (samplers pull)
//             LeaseCompleted (recomposer)   the lease's groups arrived: its timeout is cancelled
//             PolicyLoaded, StepTrained (learner, LearnerProtocol.cs)
//             PolicyEvaluated (evaluator, EvaluatorProtocol.cs)
//             RunFailed (any actor)         the run stops with that reason
//             GetRunStatus                  -> RunStatus
//   sends     StepOpened (recomposer), LoadPolicy (learner), EvaluatePolicy (evaluator)
//   journals  CheckpointCommitted (RoRecomp.Core.Coordination)

/// <summary>A sampler asks for work; the coordinator answers with <see cref="LeaseGranted"/> as soon as a lease is free.</summary>
public sealed record RequestWork(string SamplerId) : IRoRecompMessage;

/// <summary>A lease for the sampler that asked; <paramref name="Task"/> names the run's task (a sampler configured for another refuses).</summary>
public sealed record LeaseGranted(WorkLease Lease, string Task) : IRoRecompMessage;

/// <summary>The recomposer received every group of a lease (the first time); the coordinator stops its timeout.</summary>
public sealed record LeaseCompleted(string LeaseId, long Step) : IRoRecompMessage;

/// <summary>An actor of the pipeline hit an error it cannot recover from; the run stops and can be resumed.</summary>
public sealed record RunFailed(string Reason) : IRoRecompMessage;

/// <summary>Ask the coordinator where the run is (tests, status displays).</summary>
public sealed record GetRunStatus : IRoRecompMessage
{
    /// <summary>The single instance.</summary>
    public static readonly GetRunStatus Instance = new();
}

/// <summary>The coordinator's answer to <see cref="GetRunStatus"/>.</summary>
public sealed record RunStatus(long TrainedStep, long PolicyVersion, long Cursor, int QueuedLeases, int OutstandingLeases, int IdleSamplers, ImmutableArray<RunCheckpoint> Checkpoints) : IRoRecompMessage;
