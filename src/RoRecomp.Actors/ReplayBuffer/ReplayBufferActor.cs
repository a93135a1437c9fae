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
/// decision's reply is sent once they are durable. Recovery is the latest snapshot + the same fold.
/// <para>
/// The journal stays bounded by what the buffer holds (it journals whole token arrays): a snapshot is taken after
/// <c>snapshotEvery</c> events or once <c>snapshotAfterStored</c> responses were stored since the last one, and each
/// snapshot starts the compaction cycle <c>SaveSnapshot(S) -> DeleteMessages(to S) -> DeleteSnapshots(before S)</c>,
/// one step after the previous one succeeded and one cycle at a time. A crash anywhere in it loses and duplicates
/// nothing: until snapshot S is durable the older snapshot and every event after it are still there; once it is,
/// recovery starts from S and replays only events after S, so events up to S (deleted or not, wholly or partly) and
/// older snapshots are never read. A failed step is logged and retried by the next cycle (which deletes up to its own
/// snapshot). Live journal size: one snapshot (the held responses) + the events since it (at most
/// <c>snapshotAfterStored</c> responses) + the last deleted event, which the SQL journal keeps as its sequence marker.
/// </para>
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
    private readonly int _snapshotAfterStored;
    private ReplayBufferState _state;
    private int _eventsSinceSnapshot;
    private IActorRef _writing = ActorRefs.Nobody;
    private int _storedSinceSnapshot;
    private bool _compacting;

    /// <summary>Creates the actor; use <see cref="Props"/>.</summary>
    public ReplayBufferActor(string persistenceId, ReplayBufferOptions options, int snapshotEvery, int snapshotAfterStored)
    {
        PersistenceId = persistenceId;
        _options = options.Validate();
        _snapshotEvery = Math.Max(1, snapshotEvery);
        _snapshotAfterStored = Math.Max(1, snapshotAfterStored);
        _state = ReplayBufferState.Empty(_options);

        Recover<SnapshotOffer>(offer => _state = ReplayBufferState.FromSnapshot(_options, (ReplayBufferSnapshot)offer.Snapshot));
        Recover<IReplayBufferEvent>(e =>
        {
            _state = _state.Apply(e);
            Count(e);
        });

        Command<IReplayBufferCommand>(Handle);
        Command<GetBufferStats>(m => Sender.Tell(new BufferStats(_state.Count, m.IncludeIds ? [.. _state.Entries.Select(r => r.Id)] : [], LastSequenceNr, _compacting)));
        Command<SaveSnapshotSuccess>(ok => DeleteMessages(ok.Metadata.SequenceNr));
        Command<SaveSnapshotFailure>(failed => CycleFailed(failed.Cause, "Replay buffer snapshot failed; the journal still holds every event since the previous one"));
        Command<DeleteMessagesSuccess>(ok => DeleteSnapshots(new SnapshotSelectionCriteria(ok.ToSequenceNr - 1)));
        Command<DeleteMessagesFailure>(failed => CycleFailed(failed.Cause, $"Deleting replay buffer events up to {failed.ToSequenceNr} failed; the next snapshot's cycle deletes them"));
        Command<DeleteSnapshotsSuccess>(_ => CycleDone());
        Command<DeleteSnapshotsFailure>(failed => CycleFailed(failed.Cause, "Deleting old replay buffer snapshots failed; the next cycle deletes them"));
    }

    /// <inheritdoc />
    public override string PersistenceId { get; }

    /// <summary>Props for a replay buffer journaled under <paramref name="persistenceId"/>.</summary>
    /// <param name="persistenceId">Journal id (one per run, e.g. "replay-buffer").</param>
    /// <param name="options">Capacity, staleness, draw order and seed (from <c>SettingsMapping.ReplayBuffer</c>).</param>
    /// <param name="snapshotEvery">Snapshot after this many journaled events (rorecomp.buffer.snapshot-every).</param>
    /// <param name="snapshotAfterStored">
    /// Also snapshot once this many responses were stored since the last snapshot; default the capacity: each
    /// response is then written about twice (its event, one snapshot) and the live journal stays under 2 x a full buffer
    /// (the snapshot + fewer than a buffer's worth of events) once the cycles catch up.
    /// </param>
    public static Props Props(string persistenceId, ReplayBufferOptions options, int snapshotEvery, int? snapshotAfterStored = null) =>
        Akka.Actor.Props.Create(() => new ReplayBufferActor(persistenceId, options, snapshotEvery, snapshotAfterStored ?? DefaultSnapshotAfterStored(options)));

    /// <summary>The capacity: responses stored between two snapshots by default.</summary>
    public static int DefaultSnapshotAfterStored(ReplayBufferOptions options) => options.Capacity;

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
            Count(e);
            if (--remaining > 0)
                return;
            _writing = ActorRefs.Nobody;
            sender.Tell(decision.Reply);
            MaybeSnapshot();
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
        // Unreachable, not damaged: this actor stops, its backoff supervisor starts it again and it recovers once the
        // database is back; its callers' bounded retries (JournalRetry) end the run resumably if it stays away.
        if (JournalUnreadable.IsUnreachable(reason))
            Log.Warning("The replay buffer's journal cannot be reached ({0}); its recovery is tried again", reason.GetBaseException().Message);
        else
            Context.System.EventStream.Publish(new JournalUnreadable(RoRecompHostingExtensions.ReplayBufferName, reason));
    }

    private void Count(IReplayBufferEvent e)
    {
        _eventsSinceSnapshot++;
        if (e is ResponsesStored stored) _storedSinceSnapshot += stored.Responses.Length;
    }

    private void MaybeSnapshot()
    {
        if (_compacting || (_eventsSinceSnapshot < _snapshotEvery && _storedSinceSnapshot < _snapshotAfterStored))
            return;
        _eventsSinceSnapshot = 0;
        _storedSinceSnapshot = 0;
        _compacting = true;
        SaveSnapshot(_state.ToSnapshot());
    }

    private void CycleDone()
    {
        _compacting = false;
        MaybeSnapshot();
    }

    private void CycleFailed(Exception cause, string what)
    {
        Log.Warning(cause, what);
        CycleDone();
    }
}
