using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using RoRecomp.Actors.Persistence;
using RoRecomp.Actors.Protocols;
using RoRecomp.Core.Metrics;
using RoRecomp.Core.Recomposition;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;
using RoRecomp.Settings;
using RoRecomp.Training;
using RoRecomp.Training.Steps;

namespace RoRecomp.Actors.Recomposition;

/// <summary>
/// The recomposer: gathers a step's verified groups (each prompt once, whatever lease delivered it), recomposes the
/// online batch with <see cref="StepRecomposer.Recompose"/>, stores the compensation remainder in the replay buffer
/// (retried until acknowledged; the buffer ignores ids it holds or held) and only then hands the priority batch to the
/// learner. Steps leave in order.
/// </summary>
public sealed class RecomposerActor : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan StoreTimeout = TimeSpan.FromSeconds(30);

    private readonly RunContext _context;
    private IActorRef _coordinator = ActorRefs.Nobody;
    private readonly IActorRef _buffer;
    private readonly IActorRef _learner;
    private readonly RecompositionOptions _options;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly SortedDictionary<long, Assembly> _steps = [];
    private bool _storing;

    /// <summary>Creates the recomposer; use <see cref="Props"/>.</summary>
    public RecomposerActor(RunContext context, IActorRef buffer, IActorRef learner)
    {
        _context = context;
        _buffer = buffer;
        _learner = learner;
        _options = SettingsMapping.Recomposition(context.Settings);

        Receive<StepOpened>(m =>
        {
            _coordinator = Sender; // the coordinator opens steps; lease acknowledgements and failures go back to it
            if (!_steps.ContainsKey(m.Step)) _steps[m.Step] = new Assembly(m);
        });
        Receive<RolloutsScored>(Accept);
        Receive<Stored>(m =>
        {
            _storing = false;
            var a = _steps[m.Step];
            _steps.Remove(m.Step);
            _learner.Tell(new TrainOnStep(a.Result!.Priority, a.Metrics!));
            TryFinish();
        });
        Receive<StoreFailed>(m =>
        {
            // Bounded retries with backoff (JournalRetry): a journal that cannot be written stops the run, resumable.
            if (m.Attempt >= JournalRetry.Attempts || !JournalRetry.IsTransient(m.Cause))
            {
                _coordinator.Tell(new RunFailed(m.Cause is JournalWriteException or AskTimeoutException
                    ? PersistenceHocon.CannotWrite(_context.Settings, $"storing step {m.Step}'s compensation responses failed {m.Attempt} times", m.Cause)
                    : $"the replay buffer did not acknowledge step {m.Step}'s compensation responses after {m.Attempt} tries: {m.Cause.Message}"));
                return;
            }
            var delay = JournalRetry.Delay(m.Attempt);
            _log.Warning("Storing step {0}'s compensation responses failed ({1}); try {2} of {3} in {4} s",
                m.Step, m.Cause.Message, m.Attempt + 1, JournalRetry.Attempts, delay.TotalSeconds);
            Timers.StartSingleTimer($"store-{m.Step}", new RetryStore(m.Step, m.Attempt + 1), delay);
        });
        Receive<RetryStore>(m =>
        {
            if (_steps.ContainsKey(m.Step)) Store(m.Step, m.Attempt);
        });
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props of the recomposer.</summary>
    public static Props Props(RunContext context, IActorRef buffer, IActorRef learner) =>
        Akka.Actor.Props.Create(() => new RecomposerActor(context, buffer, learner));

    private void Accept(RolloutsScored m)
    {
        if (_steps.TryGetValue(m.Step, out var a) && a.Result is null)
        {
            foreach (var g in m.Groups)
                if (a.Expected.Contains(g.PromptId)) a.Received.TryAdd(g.PromptId, g);
        }
        // Acknowledge even a late duplicate, so the coordinator stops waiting for that lease.
        _coordinator.Tell(new LeaseCompleted(m.LeaseId, m.Step));
        TryFinish();
    }

    private void TryFinish()
    {
        if (_storing || _steps.Count == 0) return;
        var (step, a) = _steps.First();
        if (a.Received.Count < a.Opened.PromptIds.Length) return;
        var online = a.Opened.PromptIds.Select(id => a.Received[id]).ToList();
        (a.Result, a.Metrics) = StepRecomposer.Recompose(online, _options, _context.Settings.Run.Seed, step, a.Opened.PolicyVersion);
        _storing = true;
        if (a.Result.Compensation.IsEmpty) Self.Tell(new Stored(step));
        else Store(step, 1);
    }

    private void Store(long step, int attempt)
    {
        var responses = _steps[step].Result!.Compensation;
        _buffer.Ask<IReplayBufferReply>(new StoreResponses(responses, step), StoreTimeout).PipeTo(
            Self,
            success: reply => reply is ResponsesAccepted ? new Stored(step) : new StoreFailed(step, attempt, new InvalidOperationException($"unexpected reply {reply.GetType().Name}")),
            failure: e => new StoreFailed(step, attempt, JournalRetry.Unwrap(e)));
    }

    private sealed record Stored(long Step);

    private sealed record StoreFailed(long Step, int Attempt, Exception Cause);

    private sealed record RetryStore(long Step, int Attempt);

    private sealed class Assembly(StepOpened opened)
    {
        public StepOpened Opened { get; } = opened;

        public HashSet<string> Expected { get; } = [.. opened.PromptIds];

        public Dictionary<string, RolloutGroup> Received { get; } = new(StringComparer.Ordinal);

        public RecompositionResult? Result { get; set; }

        public StepMetrics? Metrics { get; set; }
    }
}
