using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using RoRecomp.Actors.Hosting;
using RoRecomp.Actors.Persistence;
using RoRecomp.Actors.Protocols;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Schedules;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Training;
using RoRecomp.Model.Transformer;
using RoRecomp.Settings;
using RoRecomp.Training;
using RoRecomp.Training.Steps;

namespace RoRecomp.Actors.Learning;

/// <summary>
/// The learner: owns the policy and its optimizer. On <see cref="LoadPolicy"/> it resumes from the newest committed
/// checkpoint that loads (or the warm start); on <see cref="TrainOnStep"/> it runs <see cref="PolicyUpdate.RunAsync"/>
/// (the priority batch, then a compensation batch drawn from the replay buffer when the schedule says so), counts the
/// policy version up and writes a checkpoint when due. After every load and step it hands the new weights to the policy
/// publisher, which serves samplers and the evaluator. Training blocks its thread, so it runs on the pinned compute
/// dispatcher; buffer round trips suspend its mailbox.
/// </summary>
public sealed class LearnerActor : ReceiveActor
{
    private static readonly TimeSpan BufferTimeout = TimeSpan.FromSeconds(60);

    private readonly RunContext _context;
    private readonly IActorRef _buffer;
    private readonly IActorRef _publisher;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly CompensationSchedule _schedule;
    private readonly int _padId;
    private PolicyTransformer? _model;
    private PolicyTransformer? _reference;
    private PolicyTrainer? _trainer;
    private IActorRef _coordinator = ActorRefs.Nobody;
    private long _version;
    private long _totalSteps;

    /// <summary>Creates the learner; use <see cref="Props"/>.</summary>
    public LearnerActor(RunContext context, IActorRef buffer, IActorRef publisher)
    {
        _context = context;
        _buffer = buffer;
        _publisher = publisher;
        _schedule = SettingsMapping.Compensation(context.Settings);
        _padId = context.CreateTokenizer(context.CreateTask()).PadId;

        ReceiveAsync<LoadPolicy>(LoadAsync);
        ReceiveAsync<TrainOnStep>(TrainAsync);
    }

    /// <summary>Props of the learner (pinned compute dispatcher), which draws from <paramref name="buffer"/> and publishes to <paramref name="publisher"/>.</summary>
    public static Props Props(RunContext context, IActorRef buffer, IActorRef publisher) =>
        Akka.Actor.Props.Create(() => new LearnerActor(context, buffer, publisher)).WithDispatcher(PipelineHocon.ComputeDispatcher);

    /// <inheritdoc />
    protected override void PostStop()
    {
        _trainer?.Dispose();
        _model?.Dispose();
        _reference?.Dispose();
    }

    private async Task LoadAsync(LoadPolicy m)
    {
        _coordinator = Sender;
        var sender = Sender;
        _totalSteps = m.TotalSteps;
        TorchRuntime.EnsureLoaded();
        var s = _context.Settings;
        TorchRuntime.ManualSeed(s.Run.Seed);
        _model ??= PolicyFactory.Create(_context.RequireModelConfig(), s);
        _trainer ??= PolicyUpdate.CreateTrainer(_model, s, _padId);
        var resumed = PolicyCheckpoints.Resume(_model, _trainer, m.Candidates, _context.CheckpointDirectory, _context.WarmStart, out var skipped);
        foreach (var reason in skipped) _log.Warning("Skipping checkpoint: {0}", reason);
        if (resumed is null)
        {
            sender.Tell(new RunFailed($"no committed checkpoint of this run loads ({string.Join("; ", skipped)}); " +
                "restore one or start a new run directory"));
            return;
        }
        _version = resumed.PolicyVersion;
        if (!await RewindBufferAsync(resumed.From?.Step ?? 0, sender)) return;
        if (s.PolicyLoss.KlCoef > 0 && _reference is null)
        {
            _reference = PolicyFactory.Create(_context.RequireModelConfig(), s);
            WarmStart.Load(_reference, _context.WarmStart);
            _reference.eval();
        }
        sender.Tell(new PolicyLoaded(resumed.From, _version, resumed.Skipped));
        Publish();
    }

    /// <summary>
    /// Takes the replay buffer back to its state after <paramref name="step"/>, the step the run continues from (the
    /// newest committed checkpoint, an older one when the newest did not load, or 0), so the steps that run again find
    /// the buffer they first ran on. False (and the run failed) when the buffer does not answer.
    /// </summary>
    private async Task<bool> RewindBufferAsync(long step, IActorRef coordinator)
    {
        try
        {
            var reply = await JournalRetry.AskAsync(() => _buffer.Ask<IReplayBufferReply>(new RewindTo(step), BufferTimeout), Retrying("rewinding the replay buffer"));
            switch (reply)
            {
                case Rewound { Undone: > 0 } r:
                    _log.Info("Replay buffer back at step {0}: {1} journaled events of later steps undone, {2} responses held", step, r.Undone, r.Count);
                    break;
                case CannotRewind c:
                    _log.Warning("The replay buffer cannot go back to step {0} (it keeps the events of steps after {1} only): the steps that run again " +
                        "find it ahead (its re-stores are ignored, draws replayed), so their buffer_size may differ from the first run", step, c.Oldest);
                    break;
            }
            return true;
        }
        catch (Exception e)
        {
            coordinator.Tell(new RunFailed(JournalRetry.IsTransient(e)
                ? PersistenceHocon.CannotWrite(_context.Settings, "rewinding the replay buffer", JournalRetry.Unwrap(e))
                : $"the replay buffer could not be taken back to step {step}: {JournalRetry.Unwrap(e).Message}"));
            return false;
        }
    }

    private Action<int, Exception> Retrying(string what) =>
        (attempt, e) => _log.Warning("{0} failed ({1}); try {2} of {3} in {4} s", what, JournalRetry.Unwrap(e).Message, attempt + 1, JournalRetry.Attempts, JournalRetry.Delay(attempt).TotalSeconds);

    private async Task TrainAsync(TrainOnStep m)
    {
        var sw = Stopwatch.StartNew();
        var step = m.Online.Step;
        try
        {
            var update = await PolicyUpdate.RunAsync(
                _trainer!, _reference, _schedule, _context.Settings.Algorithm, m.Priority, step, _totalSteps, _version,
                draw => JournalRetry.AskAsync(() => _buffer.Ask<IReplayBufferReply>(draw, BufferTimeout), Retrying($"drawing step {step}'s compensation batch")));
            _version++;
            var stats = await JournalRetry.AskAsync(() => _buffer.Ask<BufferStats>(GetBufferStats.CountOnly, BufferTimeout), Retrying("asking the replay buffer's size"));
            string? checkpoint = null;
            var c = _context.Settings.Checkpoint;
            if ((c.Every > 0 && step % c.Every == 0) || step >= _totalSteps)
            {
                checkpoint = PolicyCheckpoints.Save(
                    _context.CheckpointDirectory, c.KeepLast, step, _version, _model!, _trainer!, _context.RequireModelConfig(),
                    _context.Settings.Run.Task, _context.Settings.Run.Seed);
            }
            var online = m.Online with { PolicyVersion = _version, CompensationSize = update.CompensationSize, BufferSize = stats.Count };
            _coordinator.Tell(new StepTrained(online, update.Metrics(sw.Elapsed.TotalSeconds), checkpoint));
            Publish();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.Error(e, "Learner failed on step {0}", step);
            _coordinator.Tell(new RunFailed(JournalRetry.Unwrap(e) is JournalWriteException or AskTimeoutException
                ? PersistenceHocon.CannotWrite(_context.Settings, $"the learner on step {step}", JournalRetry.Unwrap(e))
                : $"learner failed on step {step}: {e.Message}"));
        }
    }

    private void Publish() =>
        _publisher.Tell(new PublishPolicy(_version, PolicyWeights.Serialize(_model!), PolicyWeights.ConfigJson(_context.RequireModelConfig())));
}
