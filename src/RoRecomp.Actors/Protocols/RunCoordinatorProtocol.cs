using System.Collections.Immutable;
using RoRecomp.Core.Coordination;

namespace RoRecomp.Actors.Protocols;

// The run coordinator's protocol:
//   receives  RequestWork (sampler)         -> LeaseGranted now, or when a lease is free (samplers pull); WorkRefused
//                                            when the sampler's run configuration is not the run's
//             LeaseCompleted (recomposer)   the lease's groups arrived: its timeout is cancelled
//             PolicyLoaded, StepTrained (learner, LearnerProtocol.cs)
//             PolicyEvaluated (evaluator, EvaluatorProtocol.cs)
//             RunFailed (any actor)         the run stops with that reason
//             GetRunStatus                  -> RunStatus
//   sends     StepOpened (recomposer), LoadPolicy (learner), EvaluatePolicy (evaluator)
//             RunEnded (every other cluster node's /user/run-watch) when the run finished or failed
//   journals  CheckpointCommitted (RoRecomp.Core.Coordination)

/// <summary>
/// A sampler asks for work; the coordinator answers with <see cref="LeaseGranted"/> as soon as a lease is free.
/// <paramref name="RunKeys"/> is the sampler's <c>RunFingerprint.Text</c> ("" = not checked): one that differs from the
/// run's is answered <see cref="WorkRefused"/>.
/// </summary>
public sealed record RequestWork(string SamplerId, string RunKeys = "") : IRoRecompMessage;

/// <summary>The sampler's run configuration is not the run's; <paramref name="RunKeys"/> are the run's (the sampler names the keys that differ).</summary>
public sealed record WorkRefused(string Reason, string RunKeys) : IRoRecompMessage;

/// <summary>
/// The run is over (<paramref name="Finished"/>: it completed; else it failed, <paramref name="Reason"/> says why): sent to
/// every other node of the cluster, whose <c>node</c> process then exits instead of waiting for a learner that is gone.
/// </summary>
public sealed record RunEnded(bool Finished, string Reason) : IRoRecompMessage;

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
