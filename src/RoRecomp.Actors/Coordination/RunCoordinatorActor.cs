using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using RoRecomp.Actors.Persistence;
using RoRecomp.Actors.Protocols;
using RoRecomp.Core.Coordination;
using RoRecomp.Tasks;
using RoRecomp.Training;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Steps;
using State = RoRecomp.Core.Coordination.CoordinatorState<Akka.Actor.IActorRef, RoRecomp.Actors.Protocols.StepTrained, RoRecomp.Training.Steps.HeldOutEvaluation>;

namespace RoRecomp.Actors.Coordination;

/// <summary>
/// The run coordinator: the one place that knows where the run is. After recovering its journal (the committed
/// checkpoints) it has the learner load the newest good one (or the warm start), evaluates the warm start on a fresh
/// run, then opens steps: each step's prompts (from the data cursor) become leases that samplers pull; a lease not
/// completed within <c>run.lease-timeout</c>, or held by a sampler that died, is re-issued. When the learner reports a
/// step trained, a checkpoint it wrote is committed to the journal, the policy is evaluated when due and the step is
/// reported. With <c>async.max-policy-lag</c> = L, up to L steps beyond the one in training are open at once.
/// <para>
/// The actor holds no run logic: each message becomes a command to the pure <see cref="CoordinatorState{TSampler, TTrained, TEval}"/>
/// (samplers keyed by their <see cref="IActorRef"/>), and the actor carries out the decided effects: tells, watches,
/// lease timers, step planning (which needs the task for prompt ids) and reporter calls.
/// </para>
/// </summary>
public sealed class RunCoordinatorActor : ReceivePersistentActor, IWithTimers
{
    /// <summary>Singleton name, and the persistence id's prefix (see <see cref="PersistenceHocon.PersistenceId"/>).</summary>
    public const string Id = "run-coordinator";

    private readonly RunContext _context;
    private readonly IRunReporter _reporter;
    private readonly IActorRef _recomposer;
    private readonly IActorRef _learner;
    private readonly IActorRef _evaluator;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IRlTask _task;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private State _state;
    private bool _samplerEverJoined;

    /// <summary>Creates the coordinator; use <see cref="Props"/>.</summary>
    public RunCoordinatorActor(RunContext context, IRunReporter reporter, IActorRef recomposer, IActorRef learner, IActorRef evaluator)
    {
        _context = context;
        _reporter = reporter;
        _recomposer = recomposer;
        _learner = learner;
        _evaluator = evaluator;
        _task = context.CreateTask();
        var run = context.Settings.Run;
        _state = State.Empty(new CoordinatorOptions(context.TotalSteps, run.PromptsPerStep, context.Settings.Async.MaxPolicyLag, run.EvalEvery));
        PersistenceId = PersistenceHocon.PersistenceId(Id, context.Settings);

        Recover<CheckpointCommitted>(e => _state = _state.Apply(e));

        Command<PolicyLoaded>(m => Handle(new StartRun(m.From, m.PolicyVersion, m.Skipped)));
        Command<RequestWork>(m =>
        {
            if (Refuses(m)) return;
            Handle(new OfferSampler<IActorRef>(Sender, m.SamplerId));
        });
        Command<PollSamplers>(Handle);
        Command<LeaseCompleted>(m => Handle(new CompleteLease(m.LeaseId)));
        Command<ExpireLease>(Handle);
        Command<Terminated>(t => Handle(new DropSampler<IActorRef>(t.ActorRef)));
        Command<StepTrained>(m => Handle(new CompleteStep<StepTrained>(m.Online.Step, m.Online.PolicyVersion, m.CheckpointPath, m, _clock.Elapsed)));
        Command<PolicyEvaluated>(m => Handle(new RecordEvaluation<HeldOutEvaluation>(m.Evaluation.Step, m.Evaluation)));
        Command<RunFailed>(m => Handle(new FailRun(m.Reason)));
        Command<GetRunStatus>(_ => Sender.Tell(new RunStatus(
            _state.TrainedStep, _state.PolicyVersion, _state.TrainedCursor, _state.Queue.Count, _state.Outstanding.Count, _state.Idle.Count,
            [.. _state.Journal.Checkpoints])));
    }

    /// <inheritdoc />
    public override string PersistenceId { get; }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props of the coordinator.</summary>
    public static Props Props(RunContext context, IRunReporter reporter, IActorRef recomposer, IActorRef learner, IActorRef evaluator) =>
        Akka.Actor.Props.Create(() => new RunCoordinatorActor(context, reporter, recomposer, learner, evaluator));

    /// <inheritdoc />
    protected override void PreStart()
    {
        base.PreStart();
        Timers.StartPeriodicTimer("check-samplers", PollSamplers.Instance, TimeSpan.FromSeconds(10));
    }

    /// <inheritdoc />
    protected override void OnReplaySuccess() => _learner.Tell(new LoadPolicy(_state.ResumeCandidates, _context.TotalSteps));

    /// <summary>
    /// Refuses a sampler whose run configuration (<see cref="RequestWork.RunKeys"/>) is not this run's: its responses
    /// would belong to another experiment. Both sides name the keys that differ.
    /// </summary>
    private bool Refuses(RequestWork m)
    {
        var mine = _context.Settings.Fingerprint;
        if (mine is null || m.RunKeys.Length == 0 || m.RunKeys == mine.Text) return false;
        var theirs = new RoRecomp.Settings.RunFingerprint(m.RunKeys);
        var differences = mine.Differences(theirs, "run", "sampler");
        _log.Warning("Refused sampler {0} ({1}): its configuration is another run's (fingerprint {2}, this run's {3}); differing keys: {4}",
            m.SamplerId, Sender.Path, theirs.Hash, mine.Hash, string.Join("; ", differences));
        _reporter.Notice($"refused sampler {m.SamplerId}: it runs another configuration ({differences.Count} keys differ, e.g. {differences.FirstOrDefault()})");
        Sender.Tell(new WorkRefused($"the learner's run (fingerprint {mine.Hash}) has another configuration than this node's ({theirs.Hash})", mine.Text));
        return true;
    }

    /// <summary>Tells every other node of the cluster that the run is over, so that its <c>node</c> process exits.</summary>
    private void AnnounceEnd(bool finished, string reason)
    {
        if (Context.System is not ExtendedActorSystem { Provider: Akka.Cluster.ClusterActorRefProvider }) return;
        var cluster = Akka.Cluster.Cluster.Get(Context.System);
        foreach (var member in cluster.State.Members.Where(m => m.Address != cluster.SelfAddress))
            Context.ActorSelection(new RootActorPath(member.Address) / "user" / RunWatchName).Tell(new RunEnded(finished, reason));
    }

    /// <summary>The actor at <c>/user/run-watch</c> on a <c>node</c> process that <see cref="RunEnded"/> is sent to.</summary>
    public const string RunWatchName = "run-watch";

    private void Handle(ICoordinatorCommand command)
    {
        var decision = _state.Process(command);
        _state = decision.State;
        // Effects first, then the journal: a step's report (its metrics line) is decided with its checkpoint's commit,
        // so the line is written before the commit can be durable, and a crash between the two re-runs the step.
        try
        {
            foreach (var effect in decision.Effects) CarryOut(effect);
        }
        catch (IOException e)
        {
            // The run files cannot be written (disk full?): journal nothing of this decision, stop the run.
            _log.Error(e, "Writing the run's files failed");
            Handle(new FailRun($"cannot write the run's files in {_context.Settings.Run.RunDir}: {e.Message} (disk full?); " +
                "nothing committed is lost: free space and continue with --resume"));
            return;
        }
        // PersistAsync, not Persist: samplers keep getting leases of the open steps while a commit is written. The state
        // folds a commit in, and reports any later step or opens the next one, only on CommitDurable, which runs once
        // the journal confirmed the write; a resumed run offers the learner only checkpoints replayed from the journal.
        // Writes and their handlers keep call order.
        if (!decision.Events.IsEmpty) PersistAllAsync(decision.Events, durable => Handle(new CommitDurable(durable)));
    }

    /// <inheritdoc />
    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        base.OnRecoveryFailure(reason, message);
        EndOnJournalFailure(reason, PersistenceHocon.CannotRead(_context.Settings, Id, reason));
    }

    /// <inheritdoc />
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        base.OnPersistFailure(cause, @event, sequenceNr);
        EndOnJournalFailure(cause, PersistenceHocon.CannotWrite(_context.Settings, Id, cause));
    }

    /// <summary>
    /// Ends the run on a journal failure (Akka.Persistence stops this actor after it). A lost database connection (a
    /// PostgreSQL restart mid-write, found by the 60-fault chaos run) only interrupts it: <c>train</c> starts the learner
    /// side again from the last commit, as <c>--resume</c> would; anything else fails it.
    /// </summary>
    private void EndOnJournalFailure(Exception cause, string reason)
    {
        if (JournalUnreadable.IsUnreachable(cause)) _reporter.Interrupted(reason);
        else _reporter.Failed(reason);
    }

    /// <inheritdoc />
    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        base.OnPersistRejected(cause, @event, sequenceNr);
        _reporter.Failed(PersistenceHocon.CannotWrite(_context.Settings, Id, cause));
    }

    private void CarryOut(ICoordinatorEffect effect)
    {
        var run = _context.Settings.Run;
        switch (effect)
        {
            case SamplerJoined<IActorRef> joined:
                _samplerEverJoined = true;
                Context.Watch(joined.Sampler);
                _reporter.Notice($"sampler joined: {joined.Name} ({joined.Samplers} now)");
                break;
            case SamplerLeft<IActorRef> left:
                _reporter.Notice($"sampler left: {left.Sampler.Path} ({left.Samplers} now)");
                break;
            case GrantLease<IActorRef> grant:
                Timers.StartSingleTimer(grant.Lease.LeaseId, new ExpireLease(grant.Lease.LeaseId, grant.Attempt), TimeSpan.FromSeconds(run.LeaseTimeoutSeconds));
                grant.Sampler.Tell(new LeaseGranted(grant.Lease, run.Task));
                break;
            case CancelLeaseTimeout cancel:
                Timers.Cancel(cancel.LeaseId);
                break;
            case LeaseReissued<IActorRef> { Reason: ReissueReason.TimedOut } late:
                _log.Warning("Lease {0} not completed within {1} s by {2}: re-issuing it", late.LeaseId, run.LeaseTimeoutSeconds, late.Sampler.Path);
                break;
            case LeaseReissued<IActorRef> orphan:
                _log.Warning("Sampler {0} stopped holding lease {1}: re-issuing it", orphan.Sampler.Path, orphan.LeaseId);
                break;
            case OpenStep open:
                var (leases, ids) = StepPlanner.Plan(_task, run, open.Step, open.Cursor, open.PolicyVersion);
                _recomposer.Tell(new StepOpened(open.Step, open.PolicyVersion, ids), Self);
                Handle(new StepPlanned(open.Step, leases, _clock.Elapsed));
                break;
            case Evaluate evaluate:
                _evaluator.Tell(new EvaluatePolicy(evaluate.Step, evaluate.PolicyVersion));
                break;
            case ReportStarted started:
                _reporter.Started(new RunStart(started.From, started.PolicyVersion, _context.TotalSteps, started.Skipped));
                break;
            case ReportBaseline<HeldOutEvaluation> baseline:
                _reporter.Baseline(baseline.Evaluation);
                break;
            case ReportStep<StepTrained, HeldOutEvaluation> step:
                _reporter.StepCompleted(new StepRecord(step.Trained.Online, step.Trained.Learner, step.Evaluation, step.Cursor, step.Seconds, step.Checkpoint));
                break;
            case StepReportIgnored ignored:
                _log.Warning("Ignoring a report for step {0}, which is not open", ignored.Step);
                break;
            case ReportFinished:
                AnnounceEnd(true, $"the learner finished the run ({_state.TrainedStep} of {_context.TotalSteps} steps)");
                _reporter.Finished();
                break;
            case ReportFailed failed:
                AnnounceEnd(false, $"the run failed: {failed.Reason}");
                _reporter.Failed(failed.Reason);
                break;
            case WaitingForSamplers:
                _reporter.Notice(_samplerEverJoined
                    ? "waiting for samplers: every sampler has left (start one: rorecomp node --roles sampler,verifier --seed <this node's address>)"
                    : "waiting for samplers: none has joined yet (start one: rorecomp node --roles sampler,verifier --seed <this node's address>)");
                break;
            default:
                throw new InvalidOperationException($"unknown coordinator effect {effect.GetType().Name}");
        }
    }
}
