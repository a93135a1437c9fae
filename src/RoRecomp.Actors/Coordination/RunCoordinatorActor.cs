using System.Collections.Immutable;
using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using RoRecomp.Settings;
using RoRecomp.Actors.Learning;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.Persistence;
using RoRecomp.Training.Runs;
using RoRecomp.Training;
using RoRecomp.Actors.Runners;
using RoRecomp.Actors.Hosting;
using RoRecomp.Core.Coordination;
using RoRecomp.Training.Steps;
using RoRecomp.Tasks;

namespace RoRecomp.Actors.Coordination;

/// <summary>
/// The run coordinator: the one place that knows where the run is. After recovering its journal (the committed
/// checkpoints) it has the learner load the newest good one (or the warm start), evaluates the warm start on a fresh
/// run, then opens steps: each step's prompts (from the data cursor) become leases that samplers pull; a lease not
/// completed within <c>run.lease-timeout</c>, or held by a sampler that died, is re-issued. When the learner reports a
/// step trained, a checkpoint it wrote is committed to the journal, the policy is evaluated when due and the step is
/// reported. With <c>async.max-policy-lag</c> = L, up to L steps beyond the one in training are open at once.
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
    private readonly Queue<WorkLease> _queue = new();
    private readonly Dictionary<string, (WorkLease Lease, IActorRef Sampler, int Attempt)> _outstanding = new(StringComparer.Ordinal);
    private readonly List<IActorRef> _idle = [];
    private readonly HashSet<IActorRef> _watched = [];
    private readonly Dictionary<long, (long Cursor, Stopwatch Clock)> _open = [];
    private RunState _state = RunState.Empty;
    private bool _loaded;
    private bool _done;
    private long _trainedStep;
    private long _trainedCursor;
    private long _version;
    private long _nextStep;
    private long _nextCursor;
    private int _attempts;
    private (StepTrained Trained, long Cursor, double Seconds)? _awaitingEval;

    /// <summary>Creates the coordinator; use <see cref="Props"/>.</summary>
    public RunCoordinatorActor(RunContext context, IRunReporter reporter, IActorRef recomposer, IActorRef learner, IActorRef evaluator)
    {
        _context = context;
        _reporter = reporter;
        _recomposer = recomposer;
        _learner = learner;
        _evaluator = evaluator;
        _task = context.CreateTask();
        PersistenceId = PersistenceHocon.PersistenceId(Id, context.Settings);

        Recover<CheckpointCommitted>(e => _state = _state.Apply(e));

        Command<PolicyLoaded>(Loaded);
        Command<RequestWork>(m =>
        {
            if (!_idle.Contains(Sender)) _idle.Add(Sender);
            if (_watched.Add(Sender))
            {
                Context.Watch(Sender);
                _reporter.Notice($"sampler joined: {m.SamplerId} ({_watched.Count} now)");
            }
            Dispatch();
        });
        Command<CheckSamplers>(_ =>
        {
            if (_loaded && !_done && _watched.Count == 0 && _queue.Count > 0)
                _reporter.Notice("waiting for samplers: none has joined yet (start one: rorecomp node --roles sampler,verifier --seed <this node's address>)");
        });
        Command<LeaseCompleted>(m =>
        {
            if (_outstanding.Remove(m.LeaseId)) Timers.Cancel(m.LeaseId);
        });
        Command<LeaseTimedOut>(m =>
        {
            if (!_outstanding.TryGetValue(m.LeaseId, out var o) || o.Attempt != m.Attempt) return;
            _log.Warning("Lease {0} not completed within {1} s by {2}: re-issuing it", m.LeaseId, _context.Settings.Run.LeaseTimeoutSeconds, o.Sampler.Path);
            _outstanding.Remove(m.LeaseId);
            _queue.Enqueue(o.Lease);
            Dispatch();
        });
        Command<Terminated>(t =>
        {
            _idle.Remove(t.ActorRef);
            if (_watched.Remove(t.ActorRef)) _reporter.Notice($"sampler left: {t.ActorRef.Path} ({_watched.Count} now)");
            foreach (var (id, o) in _outstanding.Where(kv => kv.Value.Sampler.Equals(t.ActorRef)).ToList())
            {
                _log.Warning("Sampler {0} stopped holding lease {1}: re-issuing it", t.ActorRef.Path, id);
                _outstanding.Remove(id);
                Timers.Cancel(id);
                _queue.Enqueue(o.Lease);
            }
            Dispatch();
        });
        Command<StepTrained>(Trained);
        Command<PolicyEvaluated>(m => Evaluated(m.Evaluation));
        Command<RunFailed>(m =>
        {
            if (_done) return;
            _done = true;
            _reporter.Failed(m.Reason);
        });
        Command<GetRunStatus>(_ => Sender.Tell(new RunStatus(
            _trainedStep, _version, _trainedCursor, _queue.Count, _outstanding.Count, _idle.Count, [.. _state.Checkpoints])));
        Command<SaveSnapshotSuccess>(_ => { });
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
        Timers.StartPeriodicTimer("check-samplers", CheckSamplers.Instance, TimeSpan.FromSeconds(10));
    }

    /// <inheritdoc />
    protected override void OnReplaySuccess()
    {
        var candidates = _state.Checkpoints.Reverse().ToImmutableArray();
        _learner.Tell(new LoadPolicy(candidates, _context.TotalSteps));
    }

    private void Loaded(PolicyLoaded m)
    {
        _loaded = true;
        _trainedStep = m.From?.Step ?? 0;
        _trainedCursor = m.From?.Cursor ?? 0;
        _version = m.PolicyVersion;
        _nextStep = _trainedStep + 1;
        _nextCursor = _trainedCursor;
        _reporter.Started(new RunStart(m.From, m.PolicyVersion, _context.TotalSteps, m.Skipped));
        if (m.From is { } from && !from.Equals(_state.Latest))
        {
            // Newer commits did not load: commit the one we continue from, so the journal describes this run again.
            Persist(new CheckpointCommitted(from), e => _state = _state.Apply(e));
        }
        if (_trainedStep == 0 && _context.Settings.Run.EvalEvery > 0) _evaluator.Tell(new EvaluatePolicy(0, _version));
        else Continue();
    }

    private void Trained(StepTrained m)
    {
        var step = m.Online.Step;
        if (!_open.Remove(step, out var open))
        {
            _log.Warning("Ignoring a report for step {0}, which is not open", step);
            return;
        }
        _trainedStep = step;
        _trainedCursor = open.Cursor + _context.Settings.Run.PromptsPerStep;
        _version = m.Online.PolicyVersion;
        var seconds = open.Clock.Elapsed.TotalSeconds;
        if (m.CheckpointPath is { } path)
        {
            Persist(new CheckpointCommitted(new RunCheckpoint(step, _trainedCursor, _version, path)), e =>
            {
                _state = _state.Apply(e);
                AfterCommit(m, seconds);
            });
        }
        else
        {
            AfterCommit(m, seconds);
        }
    }

    private void AfterCommit(StepTrained m, double seconds)
    {
        var step = m.Online.Step;
        var every = _context.Settings.Run.EvalEvery;
        if ((every > 0 && step % every == 0) || step >= _context.TotalSteps)
        {
            _awaitingEval = (m, _trainedCursor, seconds);
            _evaluator.Tell(new EvaluatePolicy(step, _version));
            return;
        }
        _reporter.StepCompleted(new StepRecord(m.Online, m.Learner, null, _trainedCursor, seconds, m.CheckpointPath));
        Continue();
    }

    private void Evaluated(HeldOutEvaluation e)
    {
        if (e.Step == 0 && _awaitingEval is null)
        {
            _reporter.Baseline(e);
            Continue();
            return;
        }
        if (_awaitingEval is not { } pending || pending.Trained.Online.Step != e.Step) return;
        _awaitingEval = null;
        _reporter.StepCompleted(new StepRecord(pending.Trained.Online, pending.Trained.Learner, e, pending.Cursor, pending.Seconds, pending.Trained.CheckpointPath));
        Continue();
    }

    private void Continue()
    {
        if (_done) return;
        if (_trainedStep >= _context.TotalSteps)
        {
            _done = true;
            _reporter.Finished();
            return;
        }
        var lag = _context.Settings.Async.MaxPolicyLag;
        while (_nextStep <= _context.TotalSteps && _nextStep <= _trainedStep + 1 + lag) Open();
        Dispatch();
    }

    private void Open()
    {
        var r = _context.Settings.Run;
        var step = _nextStep++;
        var cursor = _nextCursor;
        _nextCursor += r.PromptsPerStep;
        var (leases, ids) = StepPlanner.Plan(_task, r, step, cursor, _version);
        _open[step] = (cursor, Stopwatch.StartNew());
        _recomposer.Tell(new StepOpened(step, _version, ids), Self);
        foreach (var l in leases) _queue.Enqueue(l);
    }

    private void Dispatch()
    {
        if (!_loaded || _done) return;
        while (_queue.Count > 0 && _idle.Count > 0)
        {
            var lease = _queue.Dequeue();
            var sampler = _idle[0];
            _idle.RemoveAt(0);
            var attempt = ++_attempts;
            _outstanding[lease.LeaseId] = (lease, sampler, attempt);
            Timers.StartSingleTimer(lease.LeaseId, new LeaseTimedOut(lease.LeaseId, attempt), TimeSpan.FromSeconds(_context.Settings.Run.LeaseTimeoutSeconds));
            sampler.Tell(new LeaseGranted(lease, _context.Settings.Run.Task));
        }
    }

    private sealed record LeaseTimedOut(string LeaseId, int Attempt);

    private sealed record CheckSamplers
    {
        public static readonly CheckSamplers Instance = new();
    }
}
