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
public sealed record ReplayBufferOptions(int Capacity = 4096, long MaxStaleness = 4, DrawOrder DrawOrder = DrawOrder.OldestFirst, int Seed = 0)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the bad value.</summary>
    public ReplayBufferOptions Validate()
    {
        if (Capacity < 1) throw new ArgumentException($"buffer capacity = {Capacity}: must be >= 1");
        if (MaxStaleness < 0) throw new ArgumentException($"buffer max-staleness = {MaxStaleness}: must be >= 0");
        return this;
    }
}

// ---- commands ------------------------------------------------------------------------------------------

/// <summary>A command to the replay buffer; <see cref="ReplayBufferState.Process"/> decides its events.</summary>
public interface IReplayBufferCommand;

/// <summary>Store the compensation remainder of a step. Responses whose id is already held (or was held) are ignored: retries are safe.</summary>
public sealed record StoreResponses(ImmutableArray<Response> Responses) : IReplayBufferCommand;

/// <summary>Draw <paramref name="Size"/> responses for a compensation update; stale entries are evicted first.</summary>
public sealed record DrawCompensationBatch(int Size, long CurrentPolicyVersion, long Step) : IReplayBufferCommand;

/// <summary>Evict entries staler than max-staleness with respect to <paramref name="CurrentPolicyVersion"/>.</summary>
public sealed record EvictStale(long CurrentPolicyVersion) : IReplayBufferCommand;

// ---- events (journaled; drawn / evicted carry ids only) -----------------------------------------------

/// <summary>An event of the replay buffer's journal.</summary>
public interface IReplayBufferEvent;

/// <summary>New responses entered the buffer (newest last).</summary>
public sealed record ResponsesStored(ImmutableArray<Response> Responses) : IReplayBufferEvent;

/// <summary>Responses were drawn for a compensation update at <paramref name="Step"/> and left the buffer.</summary>
public sealed record ResponsesDrawn(ImmutableArray<string> Ids, long Step) : IReplayBufferEvent;

/// <summary>Responses were evicted without training.</summary>
public sealed record ResponsesEvicted(ImmutableArray<string> Ids, EvictionReason Reason) : IReplayBufferEvent;

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

/// <summary>The outcome of processing a command: the events to persist (in order), and the reply once they are.</summary>
public sealed record ReplayBufferDecision(ImmutableArray<IReplayBufferEvent> Events, IReplayBufferReply Reply);

/// <summary>The snapshot shape: entries oldest first, plus what future decisions depend on (draw counter, recently seen ids, recent draws).</summary>
public sealed record ReplayBufferSnapshot(ImmutableArray<Response> Entries, long DrawCount, ImmutableArray<string> RecentlySeenIds, ImmutableArray<DrawRecord> RecentDraws = default);

/// <summary>The responses drawn at <paramref name="Step"/> (kept so that a re-run step draws the same batch).</summary>
public sealed record DrawRecord(long Step, ImmutableArray<Response> Responses);
