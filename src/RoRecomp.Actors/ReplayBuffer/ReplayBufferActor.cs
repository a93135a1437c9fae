using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using RoRecomp.Actors.Configuration;

namespace RoRecomp.Actors.ReplayBuffer;

/// <summary>
/// The replay buffer (RoRecomp's compensation state) as an event-sourced persistent actor. It reads as its protocol:
/// receives <see cref="StoreResponses"/>, <see cref="DrawCompensationBatch"/>, <see cref="EvictStale"/>,
/// <see cref="GetBufferStats"/>; journals <see cref="ResponsesStored"/>, <see cref="ResponsesDrawn"/>,
/// <see cref="ResponsesEvicted"/>; snapshots every <see cref="BufferSettings.SnapshotEvery"/> events and deletes older
/// snapshots. Replies are sent only after the events are journaled, so an ack means "survives a crash".
/// </summary>
public sealed class ReplayBufferActor : ReceivePersistentActor
{
    private readonly BufferSettings _settings;
    private readonly string _drawOrder;
    private ReplayBufferModel _state = ReplayBufferModel.Empty;
    private int _eventsSinceSnapshot;

    /// <summary>Creates the actor; use <see cref="Props"/>.</summary>
    public ReplayBufferActor(string persistenceId, BufferSettings settings, string drawOrder)
    {
        PersistenceId = persistenceId;
        _settings = settings;
        _drawOrder = drawOrder;

        Recover<SnapshotOffer>(offer => _state = ReplayBufferModel.FromSnapshot((ReplayBufferSnapshot)offer.Snapshot));
        Recover<IReplayBufferEvent>(e => _state = _state.Apply(e));

        Command<StoreResponses>(cmd =>
        {
            var (events, stored, duplicates) = _state.ProcessStore(cmd.Responses, _settings.Capacity);
            var ack = new ResponsesStoredAck(cmd.RequestId, stored, duplicates);
            if (events.IsEmpty)
                Sender.Tell(ack);
            else
                PersistAndReply(events, ack);
        });
        Command<DrawCompensationBatch>(cmd =>
        {
            var drawn = _state.ProcessDraw(cmd.BatchSize, _drawOrder, cmd.Seed);
            if (drawn is null)
            {
                Sender.Tell(new NotEnoughResponses(_state.Count, cmd.BatchSize));
                return;
            }
            var byId = _state.Responses.Where(r => drawn.Ids.Contains(r.Id)).ToDictionary(r => r.Id);
            PersistAndReply([drawn], new CompensationBatchDrawn([.. drawn.Ids.Select(id => byId[id])]));
        });
        Command<EvictStale>(cmd =>
        {
            var evicted = _state.ProcessEvictStale(cmd.CurrentPolicyVersion, _settings.MaxStaleness);
            if (evicted is null)
                Sender.Tell(new StaleEvicted([]));
            else
                PersistAndReply([evicted], new StaleEvicted(evicted.Ids));
        });
        Command<GetBufferStats>(_ => Sender.Tell(new BufferStats(_state.Count, [.. _state.Responses.Select(r => r.Id)], LastSequenceNr)));
        Command<SaveSnapshotSuccess>(ok =>
            DeleteSnapshots(new SnapshotSelectionCriteria(ok.Metadata.SequenceNr - 1)));
        Command<SaveSnapshotFailure>(failed => Log.Warning(failed.Cause, "Replay buffer snapshot failed; the journal still holds every event"));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(failed => Log.Warning(failed.Cause, "Deleting old replay buffer snapshots failed"));
    }

    /// <inheritdoc />
    public override string PersistenceId { get; }

    /// <summary>Props for a replay buffer journaled under <paramref name="persistenceId"/>.</summary>
    /// <param name="persistenceId">Journal id (one per run, e.g. "replay-buffer").</param>
    /// <param name="settings">Capacity, staleness and snapshot cadence.</param>
    /// <param name="drawOrder"><c>oldest-first</c> or <c>uniform</c> (rorecomp.compensation.draw-order).</param>
    public static Props Props(string persistenceId, BufferSettings settings, string drawOrder) =>
        Akka.Actor.Props.Create(() => new ReplayBufferActor(persistenceId, settings, drawOrder));

    private void PersistAndReply(IReadOnlyList<IReplayBufferEvent> events, object reply)
    {
        var sender = Sender;
        var remaining = events.Count;
        PersistAll(events, e =>
        {
            _state = _state.Apply(e);
            _eventsSinceSnapshot++;
            if (--remaining > 0)
                return;
            sender.Tell(reply);
            if (_eventsSinceSnapshot >= _settings.SnapshotEvery)
            {
                _eventsSinceSnapshot = 0;
                SaveSnapshot(_state.ToSnapshot());
            }
        });
    }
}
