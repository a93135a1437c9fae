using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using RoRecomp.Actors.Hosting;
using RoRecomp.Actors.Persistence;
using RoRecomp.Actors.Protocols;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Actors.ReplayBuffer;

/// <summary>
/// The replay buffer (RoRecomp's compensation state) as an event-sourced persistent actor. It holds no algorithm:
/// each command goes to <see cref="ReplayBufferState.Process"/>, the decided events are journaled (one
/// <see cref="ResponsesStored"/> per store request, or per chunk of a large one), folded in with
/// <see cref="ReplayBufferState.Apply"/>, and the decision's reply is sent once they are durable. Recovery is the latest
/// snapshot + the same fold.
/// <para>
/// Response bodies: with a <see cref="ResponseBodyStore"/> (<c>rorecomp.buffer.response-bodies = "table"</c>, the default)
/// the token arrays of a store are written to the body store first (one transaction), and only once they are durable are its chunks
/// decided and journaled, as <see cref="ResponsesStoredApart"/> (headers: ids and scalars); snapshots are saved as
/// <see cref="ReplayBufferSnapshotApart"/>. Recovery puts the bodies back from the store. So every response's arrays
/// are written once, instead of once in its event and again in every snapshot that holds it. A crash after the bodies
/// and before the event leaves rows no event names, which the next compaction cycle deletes; a failed body write
/// fails that store (nothing was decided) and the sender's retry writes it again.
/// </para>
/// <para>
/// Draws are not held behind stores (the learner waits for its draw, the recomposer for nothing but its own store).
/// Commands are decided at once against the decided state (every event handed to the journal, in order) and
/// journaled with <c>PersistAllAsync</c>, so nothing is stashed. Akka writes a persistent actor's events in order, one
/// write at a time, so a reply sent when its own events are durable also follows everything decided before it: a draw
/// may hand out responses whose store is still being written because its own <see cref="ResponsesDrawn"/> is journaled
/// after that store, and the reply waits for it; a crash before then leaves a journal prefix (a state the buffer really
/// had) and no reply was sent from beyond it. Stores take turns: at most one store write is in flight, a store of more
/// than <c>storeChunkBytes</c> is written as several stores of consecutive chunks (each decided against the state when
/// its turn comes, so the fold equals one store's: same ids, same order, the same oldest evicted; acknowledged after
/// the last chunk; a crash between chunks leaves a prefix stored and unacknowledged, and the sender's retry stores the
/// rest, as it would after a half-received store), and a draw that arrives meanwhile is written before the next chunk.
/// So a draw waits for at most one chunk of other responses, not for a whole step's compensation remainder.
/// Replies that journal nothing (a repeated draw, not enough buffered) are deferred behind the writes in flight
/// (<c>DeferAsync</c>), as a stashed command was. <see cref="GetBufferStats"/> answers at once from the decided state.
/// </para>
/// <para>
/// The journal stays bounded by what the buffer holds (it journals whole token arrays): a snapshot is taken after
/// <c>snapshotEvery</c> events or once <c>snapshotAfterStored</c> responses were stored since the last one, only when no
/// write is in flight (the decided state is then the durable one), and each snapshot starts the compaction cycle
/// <c>SaveSnapshot(S) -> DeleteMessages(to S) -> DeleteSnapshots(before S)</c>,
/// one step after the previous one succeeded and one cycle at a time. A crash anywhere in it loses and duplicates
/// nothing: until snapshot S is durable the older snapshot and every event after it are still there; once it is,
/// recovery starts from S and replays only events after S, so events up to S (deleted or not, wholly or partly) and
/// older snapshots are never read. A failed step is logged and retried by the next cycle (which deletes up to its own
/// snapshot). With a body store the cycle ends by deleting the body rows the snapshot does not name, of generations up
/// to its cut: rows of chunks whose bodies were written but whose events were not yet durable when the snapshot was
/// taken have a later generation and are kept, so a body is only deleted once neither the snapshot nor any later
/// event can name it. Live journal size: one snapshot (the held responses) + the events since it (at most
/// <c>snapshotAfterStored</c> responses) + the last deleted event, which the SQL journal keeps as its sequence marker.
/// </para>
/// <para>
/// Journal faults: a write that fails or is rejected is answered, to every command not yet answered, with a
/// <see cref="Status.Failure"/> naming the cause (the actor then stops, as Akka.Persistence requires after a failure
/// and as the decided state requires after a rejection, and its supervisor starts it again, recovered, so the senders'
/// retries can succeed); a recovery that fails is published as <see cref="JournalUnreadable"/>, which ends the run.
/// </para>
/// </summary>
public sealed class ReplayBufferActor : ReceivePersistentActor
{
    /// <summary>Default most bytes of token arrays (about) journaled in one store write: a draw waits for at most one.</summary>
    public const int DefaultStoreChunkBytes = 512 * 1024;

    private readonly ReplayBufferOptions _options;
    private readonly int _snapshotEvery;
    private readonly int _snapshotAfterStored;
    private readonly int _storeChunkBytes;
    private readonly ResponseBodyStore? _bodies;
    private readonly List<long> _pendingGenerations = [];
    private readonly Queue<Turn> _turns = new();
    private readonly List<IActorRef> _unanswered = [];
    private ReplayBufferState _state;
    private int _eventsSinceSnapshot;
    private int _storedSinceSnapshot;
    private int _inFlight;
    private bool _compacting;
    private long _generation = 1;
    private (long Cut, HashSet<string> Keep)? _bodyCut;
    private (long Cut, HashSet<string> Keep)? _bodyDelete;

    /// <summary>Creates the actor; use <see cref="Props"/>.</summary>
    public ReplayBufferActor(string persistenceId, ReplayBufferOptions options, int snapshotEvery, int snapshotAfterStored, int storeChunkBytes = DefaultStoreChunkBytes,
        ResponseBodyStore? bodies = null)
    {
        _bodies = bodies;
        PersistenceId = persistenceId;
        _options = options.Validate();
        _snapshotEvery = Math.Max(1, snapshotEvery);
        _snapshotAfterStored = Math.Max(1, snapshotAfterStored);
        _storeChunkBytes = Math.Max(1, storeChunkBytes);
        _state = ReplayBufferState.Empty(_options);

        Recover<SnapshotOffer>(offer => _state = ReplayBufferState.FromSnapshot(_options, offer.Snapshot switch
        {
            ReplayBufferSnapshotApart apart => MapResponses(apart.Headers, headers => Bodies.Fill(PersistenceId, headers)),
            var snapshot => (ReplayBufferSnapshot)snapshot,
        }));
        Recover<IReplayBufferEvent>(e =>
        {
            _state = _state.Apply(e);
            Count(e);
        });
        Recover<ResponsesStoredApart>(e =>
        {
            var stored = new ResponsesStored(Bodies.Fill(PersistenceId, e.Headers), e.Step);
            _state = _state.Apply(stored);
            Count(stored);
        });
        Recover<RecoveryCompleted>(_ =>
        {
            if (_bodies is not null) _generation = _bodies.MaxGeneration(PersistenceId) + 1;
        });

        Command<DrawCompensationBatch>(Draw);
        Command<StoreResponses>(store => Enqueue(new Turn(Sender, null, Chunks(store))));
        Command<IReplayBufferCommand>(command => Enqueue(new Turn(Sender, command, null)));
        Command<GetBufferStats>(m => Sender.Tell(new BufferStats(_state.Count, m.IncludeIds ? [.. _state.Entries.Select(r => r.Id)] : [], LastSequenceNr, _compacting)));
        Command<SaveSnapshotSuccess>(ok =>
        {
            _bodyDelete = _bodyCut; // the snapshot is durable: recovery starts from it, so what it does not name is garbage up to its cut
            DeleteMessages(ok.Metadata.SequenceNr);
        });
        Command<SaveSnapshotFailure>(failed => CycleFailed(failed.Cause, "Replay buffer snapshot failed; the journal still holds every event since the previous one"));
        Command<DeleteMessagesSuccess>(ok => DeleteSnapshots(new SnapshotSelectionCriteria(ok.ToSequenceNr - 1)));
        Command<DeleteMessagesFailure>(failed => CycleFailed(failed.Cause, $"Deleting replay buffer events up to {failed.ToSequenceNr} failed; the next snapshot's cycle deletes them"));
        Command<DeleteSnapshotsSuccess>(_ => CycleDone());
        Command<BodiesWritten>(BodiesDurable);
        Command<BodiesFailed>(BodiesNotWritten);
        Command<BodiesDeleted>(deleted =>
        {
            if (deleted.Cause is { } cause) Log.Warning(cause, "Deleting unreferenced replay buffer response bodies failed; the next cycle deletes them");
            CycleDone();
        });
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
    /// <param name="storeChunkBytes">
    /// A store is journaled in writes of about this many bytes of token arrays (at least one response each), so a draw
    /// waits for at most one of them; default <see cref="DefaultStoreChunkBytes"/>.
    /// </param>
    /// <param name="bodies">
    /// Where the responses' token arrays are kept: a <see cref="ResponseBodyStore"/>, or null to journal them in the
    /// events and snapshots (<c>rorecomp.buffer.response-bodies = "journal"</c>).
    /// </param>
    public static Props Props(string persistenceId, ReplayBufferOptions options, int snapshotEvery, int? snapshotAfterStored = null, int storeChunkBytes = DefaultStoreChunkBytes,
        ResponseBodyStore? bodies = null) =>
        Akka.Actor.Props.Create(() => new ReplayBufferActor(persistenceId, options, snapshotEvery, snapshotAfterStored ?? DefaultSnapshotAfterStored(options), storeChunkBytes, bodies));

    /// <summary>The capacity: responses stored between two snapshots by default.</summary>
    public static int DefaultSnapshotAfterStored(ReplayBufferOptions options) => options.Capacity;

    /// <summary>Bytes of a response's token arrays as journaled (ids 4 bytes, log-probs 4, mask 1 per token).</summary>
    public static long BodyBytes(Response r) =>
        4L * (r.PromptTokens.IsDefault ? 0 : r.PromptTokens.Length) + 8L * r.Length + (r.ActionMask.IsDefault ? 0 : r.ActionMask.Length);

    /// <summary>
    /// A draw is decided and handed to the journal at once, ahead of stores waiting for their turn: its event is written
    /// right after the write in flight, if any, and it is answered when durable.
    /// </summary>
    private void Draw(DrawCompensationBatch draw)
    {
        if (Decide(draw) is not { } decision) return;
        var sender = Sender;
        _unanswered.Add(sender);
        if (decision.Events.IsEmpty)
            DeferAsync(decision.Reply, reply => Answer(sender, reply));
        else
            Write(decision.Events, () => Answer(sender, decision.Reply));
    }

    private ReplayBufferDecision? Decide(IReplayBufferCommand command)
    {
        try
        {
            return _state.Process(command);
        }
        catch (ArgumentException e)
        {
            Sender.Tell(new Status.Failure(e));
            return null;
        }
    }

    private ImmutableArray<StoreResponses> Chunks(StoreResponses store)
    {
        if (store.Responses.IsDefaultOrEmpty) return [store];
        var chunks = ImmutableArray.CreateBuilder<StoreResponses>();
        var start = 0;
        long bytes = 0;
        for (var i = 0; i < store.Responses.Length; i++)
        {
            var size = BodyBytes(store.Responses[i]);
            if (i > start && bytes + size > _storeChunkBytes)
            {
                chunks.Add(new StoreResponses(store.Responses[start..i], store.Step));
                (start, bytes) = (i, 0);
            }
            bytes += size;
        }
        chunks.Add(start == 0 ? store : new StoreResponses(store.Responses[start..], store.Step));
        return chunks.ToImmutable();
    }

    private void Enqueue(Turn turn)
    {
        _unanswered.Add(turn.Sender);
        _turns.Enqueue(turn);
        Pump();
    }

    /// <summary>
    /// Starts the next waiting store chunk or command once no write is in flight; with a body store, the bodies of a
    /// whole store are written first, in one transaction (while the journal write before it is still in flight): they
    /// hold no draw back, and one commit for a step's remainder costs less than one per chunk.
    /// </summary>
    private void Pump()
    {
        while (_turns.TryPeek(out var turn))
        {
            if (_bodies is not null && turn.IsStore && turn.BodyGeneration is null)
            {
                if (!turn.WritingBodies) WriteBodies(turn);
                return;
            }
            if (_inFlight > 0) return;
            ReplayBufferDecision decision;
            try
            {
                decision = _state.Process(turn.Next());
            }
            catch (ArgumentException e)
            {
                _turns.Dequeue();
                Release(turn.BodyGeneration);
                Answer(turn.Sender, new Status.Failure(e));
                continue;
            }
            turn.Add(decision.Reply);
            var last = turn.Done;
            var generation = last ? turn.BodyGeneration : null; // pending until the store's last chunk is durable
            if (last) _turns.Dequeue();
            if (decision.Events.IsEmpty)
            {
                Release(generation);
                if (last) Answer(turn.Sender, turn.Reply!);
                continue;
            }
            Write(decision.Events, () =>
            {
                Release(generation);
                if (last) Answer(turn.Sender, turn.Reply!);
            });
        }
    }

    /// <summary>
    /// Writes the bodies of a store (every response of it: a duplicate's row is rewritten, which is harmless) under the
    /// current generation, which stays pending until the store's last chunk is durable.
    /// </summary>
    private void WriteBodies(Turn turn)
    {
        var generation = _generation;
        _pendingGenerations.Add(generation);
        turn.WritingBodies = true;
        Bodies.WriteAsync(PersistenceId, generation, turn.Responses)
            .PipeTo(Self, success: () => new BodiesWritten(turn, generation), failure: e => new BodiesFailed(turn, generation, e));
    }

    private void BodiesDurable(BodiesWritten written)
    {
        if (!_turns.TryPeek(out var head) || !ReferenceEquals(head, written.Turn))
        {
            Release(written.Generation); // its turn was failed meanwhile
            return;
        }
        head.WritingBodies = false;
        head.BodyGeneration = written.Generation;
        Pump();
        if (_inFlight == 0) MaybeSnapshot();
    }

    private void BodiesNotWritten(BodiesFailed failed)
    {
        Release(failed.Generation);
        if (!_turns.TryPeek(out var head) || !ReferenceEquals(head, failed.Turn)) return;
        _turns.Dequeue();
        var cause = failed.Cause.GetBaseException();
        Answer(head.Sender, new Status.Failure(new JournalWriteException(
            $"the replay buffer could not write response bodies to {Bodies.Location}: {cause.Message}", failed.Cause)));
        Pump();
    }

    private void Release(long? generation)
    {
        if (generation is { } g) _pendingGenerations.Remove(g);
    }

    private ResponseBodyStore Bodies => _bodies ?? throw new InvalidDataException(
        "the replay buffer's journal keeps response bodies in a body store, but this buffer has none: set rorecomp.buffer.response-bodies = \"table\" to read it");

    /// <summary>Folds decided events into the decided state and journals them; <paramref name="durable"/> runs once all are written.</summary>
    private void Write(ImmutableArray<IReplayBufferEvent> events, Action durable)
    {
        foreach (var e in events) _state = _state.Apply(e);
        _inFlight++;
        var remaining = events.Length;
        var journaled = _bodies is null
            ? events.CastArray<object>()
            : [.. events.Select(e => e is ResponsesStored stored ? new ResponsesStoredApart([.. stored.Responses.Select(ResponseBodyStore.Header)], stored.Step) : (object)e)];
        PersistAllAsync(journaled, e =>
        {
            Count(e);
            if (--remaining > 0)
                return;
            _inFlight--;
            durable();
            if (_inFlight == 0) MaybeSnapshot();
            Pump();
        });
    }

    private void Answer(IActorRef sender, object reply)
    {
        _unanswered.Remove(sender);
        sender.Tell(reply);
    }

    /// <inheritdoc />
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        base.OnPersistFailure(cause, @event, sequenceNr);
        FailUnanswered(new JournalWriteException($"the replay buffer's journal write failed: {cause.GetBaseException().Message}", cause));
    }

    /// <inheritdoc />
    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        base.OnPersistRejected(cause, @event, sequenceNr);
        FailUnanswered(new JournalWriteException($"the replay buffer's journal rejected a write: {cause.GetBaseException().Message}", cause));
        Context.Stop(Self); // the decided state holds the rejected event: start again from the journal
    }

    private void FailUnanswered(Exception e)
    {
        foreach (var sender in _unanswered.Distinct()) sender.Tell(new Status.Failure(e));
        _unanswered.Clear();
        _turns.Clear();
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

    private void Count(object e)
    {
        _eventsSinceSnapshot++;
        if (e is ResponsesStored stored) _storedSinceSnapshot += stored.Responses.Length;
        if (e is ResponsesStoredApart apart) _storedSinceSnapshot += apart.Headers.Length;
    }

    private void MaybeSnapshot()
    {
        if (_compacting || _inFlight > 0 || (_eventsSinceSnapshot < _snapshotEvery && _storedSinceSnapshot < _snapshotAfterStored))
            return;
        _eventsSinceSnapshot = 0;
        _storedSinceSnapshot = 0;
        _compacting = true;
        var snapshot = _state.ToSnapshot();
        if (_bodies is null)
        {
            SaveSnapshot(snapshot);
            return;
        }
        // Rows of chunks still pending (bodies written, event not yet durable) are newer than the cut.
        var cut = _pendingGenerations.Count > 0 ? _pendingGenerations.Min() - 1 : _generation;
        _generation++;
        var keep = new HashSet<string>(StringComparer.Ordinal);
        MapResponses(snapshot, responses =>
        {
            foreach (var r in responses) keep.Add(r.Id);
            return responses;
        });
        _bodyCut = (cut, keep);
        _bodyDelete = null;
        SaveSnapshot(new ReplayBufferSnapshotApart(MapResponses(snapshot, responses => [.. responses.Select(ResponseBodyStore.Header)])));
    }

    private void CycleDone()
    {
        _bodyCut = null;
        if (_bodyDelete is { } delete)
        {
            _bodyDelete = null;
            Bodies.DeleteUnreferencedAsync(PersistenceId, delete.Cut, delete.Keep)
                .PipeTo(Self, success: _ => new BodiesDeleted(null), failure: e => new BodiesDeleted(e));
            return;
        }
        _compacting = false;
        MaybeSnapshot();
    }

    /// <summary>Every response array of a snapshot (entries, recent draws, rewind history) mapped by <paramref name="map"/>.</summary>
    internal static ReplayBufferSnapshot MapResponses(ReplayBufferSnapshot s, Func<ImmutableArray<Response>, ImmutableArray<Response>> map) => s with
    {
        Entries = map(s.Entries.IsDefault ? [] : s.Entries),
        RecentDraws = s.RecentDraws.IsDefault ? default : [.. s.RecentDraws.Select(d => d with { Responses = map(d.Responses.IsDefault ? [] : d.Responses) })],
        Since = s.Since.IsDefault ? default : [.. s.Since.Select(e => e is ResponsesStored stored ? stored with { Responses = map(stored.Responses.IsDefault ? [] : stored.Responses) } : e)],
    };

    private void CycleFailed(Exception cause, string what)
    {
        Log.Warning(cause, what);
        CycleDone();
    }

    /// <summary>
    /// A journaling command waiting for its turn: a store, in chunks (one chunk a turn, replies summed), or an eviction or
    /// rewind (one turn).
    /// </summary>
    private sealed class Turn(IActorRef sender, IReplayBufferCommand? command, ImmutableArray<StoreResponses>? chunks)
    {
        private int _next;

        public IActorRef Sender { get; } = sender;

        /// <summary>Whether this is a store.</summary>
        public bool IsStore => chunks is not null;

        /// <summary>Every response of the store, all chunks (empty for other commands).</summary>
        public ImmutableArray<Response> Responses => chunks is { } c ? [.. c.SelectMany(x => x.Responses.IsDefault ? [] : x.Responses)] : [];

        /// <summary>Whether the store's bodies are being written.</summary>
        public bool WritingBodies { get; set; }

        /// <summary>The generation the store's bodies were written under, once they are durable.</summary>
        public long? BodyGeneration { get; set; }

        public object? Reply { get; private set; }

        public bool Done => _next >= (chunks?.Length ?? 1);

        public IReplayBufferCommand Next() => chunks is { } c ? c[_next] : command!;

        public void Add(IReplayBufferReply reply)
        {
            _next++;
            Reply = (Reply, reply) switch
            {
                (ResponsesAccepted a, ResponsesAccepted b) => new ResponsesAccepted(a.Stored + b.Stored, a.Duplicates + b.Duplicates, a.Evicted + b.Evicted),
                _ => reply,
            };
        }
    }

    private sealed record BodiesWritten(Turn Turn, long Generation);

    private sealed record BodiesFailed(Turn Turn, long Generation, Exception Cause);

    private sealed record BodiesDeleted(Exception? Cause);
}
