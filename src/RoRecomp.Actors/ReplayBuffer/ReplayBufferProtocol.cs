using System.Collections.Immutable;
using RoRecomp.Actors.Serialization;

namespace RoRecomp.Actors.ReplayBuffer;

// The replay buffer's protocol. Commands, events and replies are Core's (RoRecomp.Core.Replay), so the algorithm and
// its journal are testable without Akka:
//   receives  StoreResponses            -> ResponsesAccepted(stored, duplicates, evicted)  (idempotent by response id)
//             DrawCompensationBatch     -> CompensationDrawn(responses, evictedStale) | NotEnoughBuffered(...)
//             EvictStale                -> StaleEvicted(count)
//             GetBufferStats (below)    -> BufferStats (below)
//   journals  ResponsesStored, ResponsesDrawn, ResponsesEvicted; snapshots ReplayBufferSnapshot.
// Every reply is sent after its events are journaled.

/// <summary>Ask the replay buffer for its statistics (actor-level query; not journaled).</summary>
public sealed record GetBufferStats : IRoRecompMessage
{
    /// <summary>The single instance.</summary>
    public static readonly GetBufferStats Instance = new();
}

/// <summary>Reply to <see cref="GetBufferStats"/>: held responses (ids oldest first, for tests and reports) and the journal position.</summary>
public sealed record BufferStats(int Count, ImmutableArray<string> Ids, long LastSequenceNr) : IRoRecompMessage;
