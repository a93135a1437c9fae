using System.Collections.Immutable;

namespace RoRecomp.Core.Coordination;

/// <summary>What the run coordinator's decisions depend on (HOCON <c>rorecomp.run.*</c>, <c>rorecomp.async.max-policy-lag</c>).</summary>
/// <param name="TotalSteps">Steps of the run; the run finishes once this step is reported.</param>
/// <param name="PromptsPerStep">Train prompts per step: the data cursor advances by this much per step.</param>
/// <param name="MaxPolicyLag">Steps opened beyond the one in training (0: one step at a time).</param>
/// <param name="EvalEvery">Evaluate every this many steps (and the warm start, and the last step); 0: only the last step.</param>
public sealed record CoordinatorOptions(long TotalSteps, int PromptsPerStep, int MaxPolicyLag, int EvalEvery)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the bad value.</summary>
    public CoordinatorOptions Validate()
    {
        if (TotalSteps < 0) throw new ArgumentException($"total steps = {TotalSteps}: must be >= 0");
        if (PromptsPerStep < 1) throw new ArgumentException($"prompts per step = {PromptsPerStep}: must be >= 1");
        if (MaxPolicyLag < 0) throw new ArgumentException($"max policy lag = {MaxPolicyLag}: must be >= 0");
        return this;
    }
}

// ---- commands ------------------------------------------------------------------------------------------
// A sampler is an opaque key (the actor uses its IActorRef); TTrained / TEval are the learner's and the evaluator's
// reports, which the state only carries back in a report effect.

/// <summary>A command to the run coordinator; <see cref="CoordinatorState{TSampler, TTrained, TEval}.Process"/> decides what follows.</summary>
public interface ICoordinatorCommand;

/// <summary>The learner loaded the policy to continue from (<paramref name="From"/>, or the warm start when null): the run starts.</summary>
public sealed record StartRun(RunCheckpoint? From, long PolicyVersion, ImmutableArray<string> Skipped) : ICoordinatorCommand;

/// <summary>A sampler asks for work (it is idle until a lease is granted to it). <paramref name="Name"/> is for notices only.</summary>
public sealed record OfferSampler<TSampler>(TSampler Sampler, string Name) : ICoordinatorCommand;

/// <summary>A sampler stopped: it is forgotten and the leases it held are re-issued.</summary>
public sealed record DropSampler<TSampler>(TSampler Sampler) : ICoordinatorCommand;

/// <summary>The answer to <see cref="OpenStep"/>: the step's leases (planned outside Core, where prompt ids are known), opened at <paramref name="At"/>.</summary>
public sealed record StepPlanned(long Step, ImmutableArray<WorkLease> Leases, TimeSpan At) : ICoordinatorCommand;

/// <summary>A lease's groups arrived: it is no longer outstanding (a lease not outstanding is ignored).</summary>
public sealed record CompleteLease(string LeaseId) : ICoordinatorCommand;

/// <summary>The timeout of grant <paramref name="Attempt"/> of a lease fired: re-issued if that grant is still outstanding.</summary>
public sealed record ExpireLease(string LeaseId, int Attempt) : ICoordinatorCommand;

/// <summary>The learner trained <paramref name="Step"/> (at <paramref name="At"/>), and wrote <paramref name="CheckpointPath"/> if not null.</summary>
public sealed record CompleteStep<TTrained>(long Step, long PolicyVersion, string? CheckpointPath, TTrained Trained, TimeSpan At) : ICoordinatorCommand;

/// <summary>A journal event the coordinator decided (a <see cref="CheckpointCommitted"/>) is now durable.</summary>
public sealed record CommitDurable(IRunEvent Event) : ICoordinatorCommand;

/// <summary>The evaluator's held-out figures for <paramref name="Step"/> (0: the warm start).</summary>
public sealed record RecordEvaluation<TEval>(long Step, TEval Evaluation) : ICoordinatorCommand;

/// <summary>The run failed; it stops (once) with that reason.</summary>
public sealed record FailRun(string Reason) : ICoordinatorCommand;

/// <summary>Periodic check: is the run waiting for samplers that never joined?</summary>
public sealed record PollSamplers : ICoordinatorCommand
{
    /// <summary>The single instance.</summary>
    public static readonly PollSamplers Instance = new();
}

// ---- effects: what the actor carries out, in order ------------------------------------------------------

/// <summary>Something the coordinator's actor must do (tell, watch, time, report); decided by the state.</summary>
public interface ICoordinatorEffect;

/// <summary>A new sampler joined (<paramref name="Samplers"/> are known now): watch it, and tell the user.</summary>
public sealed record SamplerJoined<TSampler>(TSampler Sampler, string Name, int Samplers) : ICoordinatorEffect;

/// <summary>A known sampler stopped (<paramref name="Samplers"/> are left): tell the user.</summary>
public sealed record SamplerLeft<TSampler>(TSampler Sampler, int Samplers) : ICoordinatorEffect;

/// <summary>Send <paramref name="Lease"/> to <paramref name="Sampler"/> and time it out as grant <paramref name="Attempt"/> (<see cref="ExpireLease"/>).</summary>
public sealed record GrantLease<TSampler>(TSampler Sampler, WorkLease Lease, int Attempt) : ICoordinatorEffect;

/// <summary>Cancel the timeout of the lease.</summary>
public sealed record CancelLeaseTimeout(string LeaseId) : ICoordinatorEffect;

/// <summary>Why a lease went back to the queue.</summary>
public enum ReissueReason
{
    /// <summary>Not completed within the lease timeout.</summary>
    TimedOut,

    /// <summary>The sampler holding it stopped.</summary>
    SamplerStopped,
}

/// <summary>A lease held by <paramref name="Sampler"/> went back to the queue (to be logged).</summary>
public sealed record LeaseReissued<TSampler>(string LeaseId, TSampler Sampler, ReissueReason Reason) : ICoordinatorEffect;

/// <summary>Plan step <paramref name="Step"/> from data index <paramref name="Cursor"/> with at least <paramref name="PolicyVersion"/>, tell the recomposer, and answer with <see cref="StepPlanned"/>.</summary>
public sealed record OpenStep(long Step, long Cursor, long PolicyVersion) : ICoordinatorEffect;

/// <summary>Have the evaluator evaluate the policy of at least <paramref name="PolicyVersion"/> for <paramref name="Step"/>.</summary>
public sealed record Evaluate(long Step, long PolicyVersion) : ICoordinatorEffect;

/// <summary>Report the start (or resume) of the run.</summary>
public sealed record ReportStarted(RunCheckpoint? From, long PolicyVersion, ImmutableArray<string> Skipped) : ICoordinatorEffect;

/// <summary>Report the warm start's held-out figures.</summary>
public sealed record ReportBaseline<TEval>(TEval Evaluation) : ICoordinatorEffect;

/// <summary>
/// Report a trained step (write its metrics line), with its evaluation when one was due. Its checkpoint, if any, is
/// committed in the same decision, journaled after this report is carried out.
/// </summary>
public sealed record ReportStep<TTrained, TEval>(long Step, TTrained Trained, TEval? Evaluation, long Cursor, double Seconds, string? Checkpoint) : ICoordinatorEffect
    where TEval : class;

/// <summary>A learner report for a step that is not open was ignored (to be logged).</summary>
public sealed record StepReportIgnored(long Step) : ICoordinatorEffect;

/// <summary>Report that every step is done.</summary>
public sealed record ReportFinished : ICoordinatorEffect
{
    /// <summary>The single instance.</summary>
    public static readonly ReportFinished Instance = new();
}

/// <summary>Report that the run stopped.</summary>
public sealed record ReportFailed(string Reason) : ICoordinatorEffect;

/// <summary>Tell the user that leases wait and no sampler has joined.</summary>
public sealed record WaitingForSamplers : ICoordinatorEffect
{
    /// <summary>The single instance.</summary>
    public static readonly WaitingForSamplers Instance = new();
}

// ---- state parts ---------------------------------------------------------------------------------------

/// <summary>A lease granted to a sampler, as grant number <paramref name="Attempt"/> (which its timeout names).</summary>
public sealed record LeaseHold<TSampler>(WorkLease Lease, TSampler Sampler, int Attempt);

/// <summary>An open step: its first prompt's data index and when it was opened.</summary>
public sealed record OpenedStep(long Cursor, TimeSpan At);

/// <summary>
/// A trained step not yet done: it waits for every earlier step, then for its evaluation when one is due, is reported,
/// and (with a checkpoint) stays <paramref name="Reported"/> until the commit decided with the report is durable.
/// </summary>
public sealed record PendingReport<TTrained>(long Step, TTrained Trained, long Cursor, long PolicyVersion, double Seconds, string? Checkpoint, bool Reported, bool EvalDue, bool EvalRequested);
