using System.Collections.Immutable;
using RoRecomp.Actors.Serialization;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Actors.ReplayBuffer;

/// <summary>Marker for every message the replay buffer receives or sends (all serialised by <see cref="RoRecompSerializer"/>).</summary>
public interface IReplayBufferMessage : IRoRecompMessage;

/// <summary>
/// Store compensation responses. Idempotent by <see cref="Response.Id"/>: a retried or duplicated store adds nothing
/// twice, and is still acknowledged with <see cref="ResponsesStoredAck"/> once its events are journaled.
/// </summary>
/// <param name="RequestId">Correlates the ack with this request (e.g. "step-12").</param>
/// <param name="Responses">The compensation batch of one step (one journal event per request).</param>
public sealed record StoreResponses(string RequestId, ImmutableArray<Response> Responses) : IReplayBufferMessage;

/// <summary>Reply to <see cref="StoreResponses"/> after the journal write: how many were new and how many were already held.</summary>
public sealed record ResponsesStoredAck(string RequestId, int Stored, int Duplicates) : IReplayBufferMessage;

/// <summary>Draw (and remove) a compensation batch of <paramref name="BatchSize"/> responses, in the configured draw order.</summary>
/// <param name="BatchSize">Responses wanted.</param>
/// <param name="Seed">Seed for the <c>uniform</c> draw order (ignored for oldest-first), so a draw is reproducible.</param>
public sealed record DrawCompensationBatch(int BatchSize, long Seed = 0) : IReplayBufferMessage;

/// <summary>Reply to <see cref="DrawCompensationBatch"/>: the drawn responses (already removed from the buffer and journaled).</summary>
public sealed record CompensationBatchDrawn(ImmutableArray<Response> Responses) : IReplayBufferMessage;

/// <summary>Reply to <see cref="DrawCompensationBatch"/> when the buffer holds fewer than a full batch; nothing is drawn.</summary>
public sealed record NotEnoughResponses(int Available, int Requested) : IReplayBufferMessage;

/// <summary>Evict responses sampled more than max-staleness policy versions before <paramref name="CurrentPolicyVersion"/>.</summary>
public sealed record EvictStale(long CurrentPolicyVersion) : IReplayBufferMessage;

/// <summary>Reply to <see cref="EvictStale"/>: the ids evicted (empty when nothing was stale).</summary>
public sealed record StaleEvicted(ImmutableArray<string> Ids) : IReplayBufferMessage;

/// <summary>Ask for the buffer's statistics.</summary>
public sealed record GetBufferStats : IReplayBufferMessage
{
    /// <summary>The single instance.</summary>
    public static readonly GetBufferStats Instance = new();
}

/// <summary>Reply to <see cref="GetBufferStats"/>: held responses (ids in draw order, for tests and reports) and journal position.</summary>
public sealed record BufferStats(int Count, ImmutableArray<string> Ids, long LastSequenceNr) : IReplayBufferMessage;
