using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using RoRecomp.Actors.Hosting;
using RoRecomp.Actors.Persistence;
using RoRecomp.Actors.Protocols;
using RoRecomp.Core.Replay;

namespace RoRecomp.Actors.ReplayBuffer;

/// <summary>
/// The replay buffer (RoRecomp's compensation state) as an event-sourced persistent actor. It holds no algorithm:
/// each command goes to <see cref="ReplayBufferState.Process"/>, the decided events are journaled (one
/// <see cref="ResponsesStored"/> per store request), folded in with <see cref="ReplayBufferState.Apply"/>, and the
/// decision's reply is sent once they are durable. Snapshots every <c>snapshotEvery</c> events and deletes older
/// snapshots; recovery is snapshot + the same fold. See ReplayBufferProtocol.cs for the messages.
/// <para>
/// Journal faults: a write that fails is answered with a <see cref="Status.Failure"/> naming the cause (the actor then
/// stops, as Akka.Persistence requires, and its supervisor starts it again, recovered, so the sender's retry can
/// succeed); a recovery that fails is published as <see cref="JournalUnreadable"/>, which ends the run.
/// </para>
/// </summary>
public sealed class ReplayBufferActor : ReceivePersistentActor
{
    private readonly ReplayBufferOptions _options;
    private readonly int _snapshotEvery;
    private ReplayBufferState _state;
    private int _eventsSinceSnapshot;
    private IActorRef _writing = ActorRefs.Nobody;

    /// <summary>Creates the actor; use <see cref="Props"/>.</summary>
    public ReplayBufferActor(string persistenceId, ReplayBufferOptions options, int snapshotEvery)
    {
        PersistenceId = persistenceId;
        _options = options.Validate();
        _snapshotEvery = Math.Max(1, snapshotEvery);
        _state = ReplayBufferState.Empty(_options);

        Recover<SnapshotOffer>(offer => _state = ReplayBufferState.FromSnapshot(_options, (ReplayBufferSnapshot)offer.Snapshot));
        Recover<IReplayBufferEvent>(e => _state = _state.Apply(e));

        Command<IReplayBufferCommand>(Handle);
        Command<GetBufferStats>(m => Sender.Tell(new BufferStats(_state.Count, m.IncludeIds ? [.. _state.Entries.Select(r => r.Id)] : [], LastSequenceNr)));
        Command<SaveSnapshotSuccess>(ok => DeleteSnapshots(new SnapshotSelectionCriteria(ok.Metadata.SequenceNr - 1)));
        Command<SaveSnapshotFailure>(failed => Log.Warning(failed.Cause, "Replay buffer snapshot failed; the journal still holds every event"));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(failed => Log.Warning(failed.Cause, "Deleting old replay buffer snapshots failed"));
    }

    /// <inheritdoc />
    public override string PersistenceId { get; }

    /// <summary>Props for a replay buffer journaled under <paramref name="persistenceId"/>.</summary>
    /// <param name="persistenceId">Journal id (one per run, e.g. "replay-buffer").</param>
    /// <param name="options">Capacity, staleness, draw order and seed (from <c>SettingsMapping.ReplayBuffer</c>).</param>
    /// <param name="snapshotEvery">Snapshot after this many journaled events (rorecomp.buffer.snapshot-every).</param>
    public static Props Props(string persistenceId, ReplayBufferOptions options, int snapshotEvery) =>
        Akka.Actor.Props.Create(() => new ReplayBufferActor(persistenceId, options, snapshotEvery));

    private void Handle(IReplayBufferCommand command)
    {
        ReplayBufferDecision decision;
        try
        {
            decision = _state.Process(command);
        }
        catch (ArgumentException e)
        {
            Sender.Tell(new Status.Failure(e));
            return;
        }
        if (decision.Events.IsEmpty)
        {
            Sender.Tell(decision.Reply);
            return;
        }
        var sender = Sender;
        var remaining = decision.Events.Length;
        _writing = sender;
        PersistAll(decision.Events, e =>
        {
            _state = _state.Apply(e);
            _eventsSinceSnapshot++;
            if (--remaining > 0)
                return;
            _writing = ActorRefs.Nobody;
            sender.Tell(decision.Reply);
            if (_eventsSinceSnapshot >= _snapshotEvery)
            {
                _eventsSinceSnapshot = 0;
                SaveSnapshot(_state.ToSnapshot());
            }
        });
    }

    /// <inheritdoc />
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        base.OnPersistFailure(cause, @event, sequenceNr);
        _writing.Tell(new Status.Failure(new JournalWriteException($"the replay buffer's journal write failed: {cause.GetBaseException().Message}", cause)));
    }

    /// <inheritdoc />
    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        base.OnPersistRejected(cause, @event, sequenceNr);
        _writing.Tell(new Status.Failure(new JournalWriteException($"the replay buffer's journal rejected a write: {cause.GetBaseException().Message}", cause)));
    }

    /// <inheritdoc />
    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        base.OnRecoveryFailure(reason, message);
        Context.System.EventStream.Publish(new JournalUnreadable(RoRecompHostingExtensions.ReplayBufferName, reason));
    }
}
