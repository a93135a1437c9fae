using System.Collections.Immutable;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Core.Replay;

/// <summary>Order in which compensation batches are drawn.</summary>
public enum DrawOrder
{
    /// <summary>Oldest stored first (FIFO).</summary>
    OldestFirst,

    /// <summary>Uniformly at random, from an RNG seeded by (seed, draw counter): replaying the events gives the same draws.</summary>
    Uniform,
}

/// <summary>Why responses left the buffer without being trained on.</summary>
public enum EvictionReason
{
    /// <summary>The buffer was over capacity; the oldest entries went.</summary>
    Capacity,

    /// <summary>More than max-staleness policy versions behind the current policy.</summary>
    Stale,
}

/// <summary>Replay-buffer options (HOCON <c>rorecomp.buffer.*</c>, <c>rorecomp.compensation.draw-order</c>).</summary>
/// <param name="Capacity">Most responses held; the oldest are evicted past it.</param>
/// <param name="MaxStaleness">Entries with current policy version - entry policy version &gt; this are evicted.</param>
/// <param name="DrawOrder">Oldest first or uniform.</param>
/// <param name="Seed">Seed of uniform draws.</param>
/// <param name="RewindSteps">
/// How many recent steps the buffer keeps the events of, so that <see cref="RewindTo"/> can take it back to its state
/// after any of them (a resume from an older checkpoint); 0 = none. The train job sets it from <c>checkpoint.every</c>
/// x <c>checkpoint.keep-last</c> (every checkpoint still on disk), so snapshots also hold that many steps' events.
/// </param>
public sealed record ReplayBufferOptions(int Capacity = 4096, long MaxStaleness = 4, DrawOrder DrawOrder = DrawOrder.OldestFirst, int Seed = 0, long RewindSteps = 0)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the bad value.</summary>
    public ReplayBufferOptions Validate()
    {
        if (Capacity < 1) throw new ArgumentException($"buffer capacity = {Capacity}: must be >= 1");
        if (MaxStaleness < 0) throw new ArgumentException($"buffer max-staleness = {MaxStaleness}: must be >= 0");
        if (RewindSteps < 0) throw new ArgumentException($"buffer rewind steps = {RewindSteps}: must be >= 0");
        return this;
    }
}

// ---- commands ------------------------------------------------------------------------------------------

/// <summary>A command to the replay buffer; <see cref="ReplayBufferState.Process"/> decides its events.</summary>
public interface IReplayBufferCommand;

/// <summary>Store the compensation remainder of <paramref name="Step"/>. Responses whose id is already held (or was held) are ignored: retries are safe.</summary>
public sealed record StoreResponses(ImmutableArray<Response> Responses, long Step = 0) : IReplayBufferCommand;

/// <summary>Draw <paramref name="Size"/> responses for a compensation update; stale entries are evicted first.</summary>
public sealed record DrawCompensationBatch(int Size, long CurrentPolicyVersion, long Step) : IReplayBufferCommand;

/// <summary>Evict entries staler than max-staleness with respect to <paramref name="CurrentPolicyVersion"/> (at <paramref name="Step"/>).</summary>
public sealed record EvictStale(long CurrentPolicyVersion, long Step = 0) : IReplayBufferCommand;

/// <summary>
/// Take the buffer back to its state after the events of <paramref name="Step"/> (and every earlier step): a run resumed
/// from the checkpoint of that step re-runs the later steps on the buffer they first ran on. Possible within the last
/// <see cref="ReplayBufferOptions.RewindSteps"/> steps; a rewind to the newest step or later changes nothing.
/// </summary>
public sealed record RewindTo(long Step) : IReplayBufferCommand;

// ---- events (journaled; drawn / evicted carry ids only) -----------------------------------------------

/// <summary>An event of the replay buffer's journal.</summary>
public interface IReplayBufferEvent;

/// <summary>New responses entered the buffer (newest last), the compensation remainder of <paramref name="Step"/> (0: unknown).</summary>
public sealed record ResponsesStored(ImmutableArray<Response> Responses, long Step = 0) : IReplayBufferEvent;

/// <summary>Responses were drawn for a compensation update at <paramref name="Step"/> and left the buffer.</summary>
public sealed record ResponsesDrawn(ImmutableArray<string> Ids, long Step) : IReplayBufferEvent;

/// <summary>Responses were evicted without training, while storing or drawing for <paramref name="Step"/> (0: unknown).</summary>
public sealed record ResponsesEvicted(ImmutableArray<string> Ids, EvictionReason Reason, long Step = 0) : IReplayBufferEvent;

/// <summary>The buffer went back to its state after the events of <paramref name="Step"/> (see <see cref="RewindTo"/>).</summary>
public sealed record BufferRewound(long Step) : IReplayBufferEvent;

// ---- replies -------------------------------------------------------------------------------------------

/// <summary>What the buffer answers to a command (after its events are persisted).</summary>
public interface IReplayBufferReply;

/// <summary>Reply to <see cref="StoreResponses"/>.</summary>
public sealed record ResponsesAccepted(int Stored, int Duplicates, int Evicted) : IReplayBufferReply;

/// <summary>Reply to <see cref="DrawCompensationBatch"/>: the drawn responses, oldest first.</summary>
public sealed record CompensationDrawn(ImmutableArray<Response> Responses, int EvictedStale) : IReplayBufferReply;

/// <summary>Reply to <see cref="DrawCompensationBatch"/> when fewer than the requested size are held (after eviction).</summary>
public sealed record NotEnoughBuffered(int Available, int Requested, int EvictedStale) : IReplayBufferReply;

/// <summary>Reply to <see cref="EvictStale"/>.</summary>
public sealed record StaleEvicted(int Count) : IReplayBufferReply;

/// <summary>Reply to <see cref="RewindTo"/>: <paramref name="Undone"/> events of later steps were undone; <paramref name="Count"/> responses are held now.</summary>
public sealed record Rewound(long Step, int Undone, int Count) : IReplayBufferReply;

/// <summary>Reply to <see cref="RewindTo"/> when the step is older than the buffer's history (<paramref name="Oldest"/> is the oldest step it can go back to).</summary>
public sealed record CannotRewind(long Step, long Oldest) : IReplayBufferReply;

/// <summary>The outcome of processing a command: the events to persist (in order), and the reply once they are.</summary>
public sealed record ReplayBufferDecision(ImmutableArray<IReplayBufferEvent> Events, IReplayBufferReply Reply);

/// <summary>
/// The snapshot shape: entries oldest first, plus what future decisions depend on (draw counter, recently seen ids, recent
/// draws). With rewind history (<see cref="ReplayBufferOptions.RewindSteps"/>) these describe the state before
/// <paramref name="Since"/>, the events of the last steps (applied on restore), and <paramref name="BaseStep"/> is the
/// newest step of the events folded in (the oldest step a rewind can go back to).
/// </summary>
public sealed record ReplayBufferSnapshot(
    ImmutableArray<Response> Entries, long DrawCount, ImmutableArray<string> RecentlySeenIds, ImmutableArray<DrawRecord> RecentDraws = default,
    ImmutableArray<IReplayBufferEvent> Since = default, long BaseStep = 0);

/// <summary>The responses drawn at <paramref name="Step"/> (kept so that a re-run step draws the same batch).</summary>
public sealed record DrawRecord(long Step, ImmutableArray<Response> Responses);
