using RoRecomp.Core.Randomness;
using System.Collections.Immutable;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Core.Replay;

/// <summary>
/// The replay buffer ("compensation state") as a pure event-sourced model, after the petabridge ProductState
/// pattern: <see cref="Process"/> validates a command and decides its events; <see cref="Apply"/> folds one event
/// into a new state. The persistent actor persists what <see cref="Process"/> decided and applies it; recovery is
/// the same <see cref="Apply"/> fold, so a test can replay a journal without an actor system.
/// <para>
/// Idempotency: a store of an id that is held, or was held and left (drawn or evicted) within the last
/// <see cref="SeenWindow"/> ids, is ignored, so a retried <see cref="StoreResponses"/> never duplicates an entry.
/// A draw for a step that already drew (within the last <see cref="RedrawWindow"/> drawing steps) returns the same
/// responses and journals nothing, so a step re-run after a crash (a resume from an earlier checkpoint) trains on the
/// compensation batch it had the first time, and the resumed run matches the uninterrupted one.
/// </para>
/// <para>
/// Rewinding: with <see cref="ReplayBufferOptions.RewindSteps"/> = W the state also keeps the state before the events
/// of the last W steps and those events (every event names its step), so <see cref="RewindTo"/> k (journaled as
/// <see cref="BufferRewound"/>) folds that base with the events up to the last one of step k or earlier: a journal prefix,
/// so a state the buffer really had (with <c>max-policy-lag = 0</c> exactly its state after step k). A run resumed
/// from step k's checkpoint (the newest, or an older one when the newest is corrupt) then re-runs the later steps on the
/// buffer they first ran on, and logs the same sizes and draws.
/// </para>
/// </summary>
public sealed record ReplayBufferState
{
    /// <summary>How many ids that left the buffer are remembered for idempotent stores.</summary>
    public const int SeenWindow = 65536;

    /// <summary>How many recent draws (by step) are remembered for idempotent re-draws.</summary>
    public const int RedrawWindow = 32;

    private ReplayBufferState(ReplayBufferOptions options) => Options = options.Validate();

    /// <summary>An empty buffer.</summary>
    public static ReplayBufferState Empty(ReplayBufferOptions options)
    {
        var empty = new ReplayBufferState(options);
        return options.RewindSteps > 0 ? empty with { Base = empty } : empty;
    }

    /// <summary>The options the state was made with.</summary>
    public ReplayBufferOptions Options { get; }

    /// <summary>Entries by insertion sequence (oldest first).</summary>
    public ImmutableSortedDictionary<long, Response> BySequence { get; private init; } = ImmutableSortedDictionary<long, Response>.Empty;

    /// <summary>Insertion sequence of each held id.</summary>
    public ImmutableDictionary<string, long> SequenceById { get; private init; } = ImmutableDictionary.Create<string, long>(StringComparer.Ordinal);

    /// <summary>Ids that left the buffer recently (bounded by <see cref="SeenWindow"/>), oldest first.</summary>
    public ImmutableQueue<string> Departed { get; private init; } = [];

    private ImmutableHashSet<string> DepartedSet { get; init; } = ImmutableHashSet.Create<string>(StringComparer.Ordinal);

    private int DepartedCount { get; init; }

    /// <summary>Next insertion sequence number.</summary>
    public long NextSequence { get; private init; }

    /// <summary>How many compensation batches were drawn (seeds uniform draws).</summary>
    public long DrawCount { get; private init; }

    /// <summary>The responses drawn at each recent step (at most <see cref="RedrawWindow"/> steps).</summary>
    public ImmutableSortedDictionary<long, ImmutableArray<Response>> RecentDraws { get; private init; } = ImmutableSortedDictionary<long, ImmutableArray<Response>>.Empty;

    /// <summary>Number of entries held.</summary>
    public int Count => BySequence.Count;

    /// <summary>The oldest step <see cref="RewindTo"/> can go back to: the newest step of the events no longer kept apart.</summary>
    public long BaseStep { get; private init; }

    /// <summary>The newest step of any event so far.</summary>
    public long NewestStep { get; private init; }

    /// <summary>The state before <see cref="Since"/> (null without rewind history); it keeps no history itself.</summary>
    private ReplayBufferState? Base { get; init; }

    /// <summary>The events after <see cref="Base"/>, oldest first: those of the last <see cref="ReplayBufferOptions.RewindSteps"/> steps.</summary>
    private ImmutableList<IReplayBufferEvent> Since { get; init; } = [];

    /// <summary>The entries, oldest first.</summary>
    public IEnumerable<Response> Entries => BySequence.Values;

    /// <summary>Whether <paramref name="id"/> is held now.</summary>
    public bool Contains(string id) => SequenceById.ContainsKey(id);

    /// <summary>Decides the events of a command. Does not change the state.</summary>
    public ReplayBufferDecision Process(IReplayBufferCommand command) => command switch
    {
        StoreResponses store => DecideStore(store),
        DrawCompensationBatch draw => DecideDraw(draw),
        EvictStale evict => DecideEvict(evict.CurrentPolicyVersion, evict.Step) is { } e
            ? new ReplayBufferDecision([e], new StaleEvicted(e.Ids.Length))
            : new ReplayBufferDecision([], new StaleEvicted(0)),
        RewindTo rewind => DecideRewind(rewind.Step),
        _ => throw new ArgumentException($"unknown replay-buffer command {command.GetType().Name}", nameof(command)),
    };

    /// <summary>Applies one event. Applying a journal from <see cref="Empty"/> rebuilds the state.</summary>
    public ReplayBufferState Apply(IReplayBufferEvent @event)
    {
        if (@event is BufferRewound rewound) return Rewind(rewound.Step);
        var next = ApplyCore(@event);
        var step = StepOf(@event);
        var newest = Math.Max(NewestStep, step);
        if (Base is null) return next with { BaseStep = newest, NewestStep = newest };
        // Keep the events of the last RewindSteps steps apart; fold older ones into the base, in journal order.
        var since = Since.Add(@event);
        var baseState = Base;
        var baseStep = BaseStep;
        while (!since.IsEmpty && StepOf(since[0]) <= newest - Options.RewindSteps)
        {
            baseState = baseState.ApplyCore(since[0]);
            baseStep = Math.Max(baseStep, StepOf(since[0]));
            since = since.RemoveAt(0);
        }
        return next with { Base = baseState, Since = since, BaseStep = baseStep, NewestStep = newest };
    }

    private ReplayBufferState ApplyCore(IReplayBufferEvent @event) => @event switch
    {
        ResponsesStored stored => ApplyStored(stored),
        ResponsesDrawn drawn => Remove(drawn.Ids) with { DrawCount = DrawCount + 1, RecentDraws = Remember(drawn) },
        ResponsesEvicted evicted => Remove(evicted.Ids),
        _ => throw new ArgumentException($"unknown replay-buffer event {@event.GetType().Name}", nameof(@event)),
    };

    /// <summary>Applies events in order.</summary>
    public ReplayBufferState ApplyAll(IEnumerable<IReplayBufferEvent> events) => events.Aggregate(this, (s, e) => s.Apply(e));

    /// <summary>The step an event belongs to (0: unknown, e.g. a journal written before events named their step).</summary>
    public static long StepOf(IReplayBufferEvent e) => e switch
    {
        ResponsesStored s => s.Step,
        ResponsesDrawn d => d.Step,
        ResponsesEvicted v => v.Step,
        BufferRewound r => r.Step,
        _ => throw new ArgumentException($"unknown replay-buffer event {e.GetType().Name}", nameof(e)),
    };

    /// <summary>The snapshot of this state (with rewind history: its base and the events since).</summary>
    public ReplayBufferSnapshot ToSnapshot()
    {
        var s = Base ?? this;
        return new([.. s.Entries], s.DrawCount, [.. s.Departed], [.. s.RecentDraws.Select(kv => new DrawRecord(kv.Key, kv.Value))], [.. Since], BaseStep);
    }

    /// <summary>Restores a state from a snapshot; it behaves exactly as the state that was snapshotted.</summary>
    public static ReplayBufferState FromSnapshot(ReplayBufferOptions options, ReplayBufferSnapshot snapshot)
    {
        var draws = (snapshot.RecentDraws.IsDefault ? [] : snapshot.RecentDraws).ToImmutableSortedDictionary(d => d.Step, d => d.Responses);
        var plain = new ReplayBufferState(options).ApplyStored(new ResponsesStored(snapshot.Entries)) with { DrawCount = snapshot.DrawCount, RecentDraws = draws };
        plain = plain.Depart(snapshot.RecentlySeenIds) with { BaseStep = snapshot.BaseStep, NewestStep = snapshot.BaseStep };
        var state = options.RewindSteps > 0 ? plain with { Base = plain } : plain;
        return state.ApplyAll(snapshot.Since.IsDefault ? [] : snapshot.Since);
    }

    private ReplayBufferDecision DecideRewind(long step)
    {
        if (step >= NewestStep) return new ReplayBufferDecision([], new Rewound(step, 0, Count));
        if (Base is null || step < BaseStep) return new ReplayBufferDecision([], new CannotRewind(step, BaseStep));
        var undone = Since.Count - Kept(step);
        if (undone == 0) return new ReplayBufferDecision([], new Rewound(step, 0, Count));
        return new ReplayBufferDecision([new BufferRewound(step)], new Rewound(step, undone, Rewind(step).Count));
    }

    /// <summary>How many of <see cref="Since"/> a rewind to <paramref name="step"/> keeps: up to the last event of that step or earlier.</summary>
    private int Kept(long step) => Since.FindLastIndex(e => StepOf(e) <= step) + 1;

    private ReplayBufferState Rewind(long step)
    {
        if (Base is null || step < BaseStep) return this;   // the decision refused it; a journal never holds such a rewind
        var kept = Since.GetRange(0, Kept(step));
        var state = kept.Aggregate(Base, (s, e) => s.ApplyCore(e));
        var newest = kept.Select(StepOf).DefaultIfEmpty(BaseStep).Max();
        return state with { Base = Base, Since = kept, BaseStep = BaseStep, NewestStep = Math.Max(BaseStep, newest) };
    }

    private ReplayBufferDecision DecideStore(StoreResponses store)
    {
        var fresh = new List<Response>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in store.Responses.IsDefault ? [] : store.Responses)
        {
            if (Contains(r.Id) || DepartedSet.Contains(r.Id) || !seen.Add(r.Id)) continue;
            fresh.Add(r);
        }
        var duplicates = (store.Responses.IsDefault ? 0 : store.Responses.Length) - fresh.Count;
        if (fresh.Count == 0) return new ReplayBufferDecision([], new ResponsesAccepted(0, duplicates, 0));
        var events = ImmutableArray.CreateBuilder<IReplayBufferEvent>();
        events.Add(new ResponsesStored([.. fresh], store.Step));
        var overflow = Count + fresh.Count - Options.Capacity;
        if (overflow > 0)
        {
            var oldest = Entries.Concat(fresh).Take(overflow).Select(r => r.Id).ToImmutableArray();
            events.Add(new ResponsesEvicted(oldest, EvictionReason.Capacity, store.Step));
        }
        return new ReplayBufferDecision(events.ToImmutable(), new ResponsesAccepted(fresh.Count, duplicates, Math.Max(0, overflow)));
    }

    private ResponsesEvicted? DecideEvict(long currentPolicyVersion, long step)
    {
        var stale = Entries.Where(r => currentPolicyVersion - r.PolicyVersion > Options.MaxStaleness).Select(r => r.Id).ToImmutableArray();
        return stale.IsEmpty ? null : new ResponsesEvicted(stale, EvictionReason.Stale, step);
    }

    private ReplayBufferDecision DecideDraw(DrawCompensationBatch draw)
    {
        if (draw.Size < 1) throw new ArgumentException($"compensation batch size = {draw.Size}: must be >= 1", nameof(draw));
        if (RecentDraws.TryGetValue(draw.Step, out var again)) return new ReplayBufferDecision([], new CompensationDrawn(again, 0));
        var events = ImmutableArray.CreateBuilder<IReplayBufferEvent>();
        var state = this;
        if (DecideEvict(draw.CurrentPolicyVersion, draw.Step) is { } evicted)
        {
            events.Add(evicted);
            state = ApplyCore(evicted);
        }
        var evictedCount = events.Count == 0 ? 0 : ((ResponsesEvicted)events[0]).Ids.Length;
        if (state.Count < draw.Size)
            return new ReplayBufferDecision(events.ToImmutable(), new NotEnoughBuffered(state.Count, draw.Size, evictedCount));

        var entries = state.BySequence.Values.ToArray();
        Response[] chosen;
        if (Options.DrawOrder == DrawOrder.OldestFirst)
        {
            chosen = entries[..draw.Size];
        }
        else
        {
            // Partial Fisher-Yates over indices with an RNG seeded by (seed, draw counter), then oldest first. The seed is
            // mixed with SplitMix64, not HashCode.Combine (randomised per process), so a draw after a restart repeats.
            var mixed = SplitMix64.Mix(unchecked(((ulong)(uint)Options.Seed * SplitMix64.Gamma) ^ (ulong)state.DrawCount));
            var rng = new Random(unchecked((int)(mixed >> 33)));
            var idx = Enumerable.Range(0, entries.Length).ToArray();
            for (var i = 0; i < draw.Size; i++)
            {
                var j = rng.Next(i, idx.Length);
                (idx[i], idx[j]) = (idx[j], idx[i]);
            }
            chosen = idx[..draw.Size].Order().Select(i => entries[i]).ToArray();
        }
        events.Add(new ResponsesDrawn([.. chosen.Select(r => r.Id)], draw.Step));
        return new ReplayBufferDecision(events.ToImmutable(), new CompensationDrawn([.. chosen], evictedCount));
    }

    private ImmutableSortedDictionary<long, ImmutableArray<Response>> Remember(ResponsesDrawn drawn)
    {
        var responses = drawn.Ids.Where(SequenceById.ContainsKey).Select(id => BySequence[SequenceById[id]]).ToImmutableArray();
        var draws = RecentDraws.SetItem(drawn.Step, responses);
        while (draws.Count > RedrawWindow) draws = draws.Remove(draws.Keys.First());
        return draws;
    }

    private ReplayBufferState ApplyStored(ResponsesStored stored)
    {
        var bySeq = BySequence.ToBuilder();
        var byId = SequenceById.ToBuilder();
        var next = NextSequence;
        foreach (var r in stored.Responses)
        {
            if (byId.ContainsKey(r.Id)) continue;
            bySeq.Add(next, r);
            byId.Add(r.Id, next);
            next++;
        }
        return this with { BySequence = bySeq.ToImmutable(), SequenceById = byId.ToImmutable(), NextSequence = next };
    }

    private ReplayBufferState Remove(ImmutableArray<string> ids)
    {
        var bySeq = BySequence.ToBuilder();
        var byId = SequenceById.ToBuilder();
        var gone = new List<string>();
        foreach (var id in ids)
        {
            if (!byId.TryGetValue(id, out var seq)) continue;
            bySeq.Remove(seq);
            byId.Remove(id);
            gone.Add(id);
        }
        return (this with { BySequence = bySeq.ToImmutable(), SequenceById = byId.ToImmutable() }).Depart(gone);
    }

    private ReplayBufferState Depart(IEnumerable<string> ids)
    {
        var queue = Departed;
        var set = DepartedSet.ToBuilder();
        var count = DepartedCount;
        foreach (var id in ids)
        {
            if (!set.Add(id)) continue;
            queue = queue.Enqueue(id);
            count++;
            while (count > SeenWindow)
            {
                queue = queue.Dequeue(out var old);
                set.Remove(old);
                count--;
            }
        }
        return this with { Departed = queue, DepartedSet = set.ToImmutable(), DepartedCount = count };
    }
}
