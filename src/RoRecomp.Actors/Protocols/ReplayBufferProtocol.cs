using System.Collections.Immutable;

namespace RoRecomp.Actors.Protocols;

// The replay buffer's protocol. Commands, events and replies are Core's (RoRecomp.Core.Replay), so the algorithm and
// its journal are testable without Akka:
//   receives  StoreResponses            -> ResponsesAccepted(stored, duplicates, evicted)  (idempotent by response id)
//             DrawCompensationBatch     -> CompensationDrawn(responses, evictedStale) | NotEnoughBuffered(...)
//             EvictStale                -> StaleEvicted(count)
//             GetBufferStats (below)    -> BufferStats (below)
//   journals  ResponsesStored, ResponsesDrawn, ResponsesEvicted; snapshots ReplayBufferSnapshot.
// Every reply is sent after its events are journaled (and so after every event decided before them); GetBufferStats
// answers at once from the decided state. Draws go to the journal ahead of stores waiting for their turn, so the
// learner's draw waits for at most one store write in flight (ReplayBufferActor's remarks).

/// <summary>Ask the replay buffer for its statistics (actor-level query; not journaled).</summary>
/// <param name="IncludeIds">Whether the reply lists every held id (tests, reports) or only counts (the learner, each step).</param>
public sealed record GetBufferStats(bool IncludeIds) : IRoRecompMessage
{
    /// <summary>Count, ids and journal position.</summary>
    public static readonly GetBufferStats Instance = new(true);

    /// <summary>Count and journal position; <see cref="BufferStats.Ids"/> comes back empty.</summary>
    public static readonly GetBufferStats CountOnly = new(false);
}

/// <summary>Reply to <see cref="GetBufferStats"/>: held responses (ids oldest first when asked for) and the journal position.</summary>
/// <param name="Count">Responses held.</param>
/// <param name="Ids">Held ids, oldest first (empty for <see cref="GetBufferStats.CountOnly"/>).</param>
/// <param name="LastSequenceNr">The journal's last sequence number.</param>
/// <param name="Compacting">Whether a journal compaction cycle (snapshot, delete events, delete older snapshots) is under way.</param>
public sealed record BufferStats(int Count, ImmutableArray<string> Ids, long LastSequenceNr, bool Compacting = false) : IRoRecompMessage;

// Journal forms used when the responses' token arrays live in ResponseBodyStore (rorecomp.buffer.response-bodies =
// "table"): the buffer journals these instead of Core's ResponsesStored / ReplayBufferSnapshot, with every response cut
// to its header (ids and scalars), and puts the bodies back from the store when it recovers.

/// <summary>
/// <see cref="Core.Replay.ResponsesStored"/> as journaled when the bodies are in the body store (written before this event).
/// </summary>
/// <param name="Headers">The stored responses without their arrays, newest last.</param>
/// <param name="Step">The step whose compensation remainder they are (0: unknown).</param>
public sealed record ResponsesStoredApart(ImmutableArray<Core.Rollouts.Response> Headers, long Step) : IRoRecompMessage;

/// <summary>
/// <see cref="Core.Replay.ReplayBufferSnapshot"/> as saved when the bodies are in the body store: every response in it
/// (entries, recent draws, rewind history) is a header.
/// </summary>
/// <param name="Headers">The snapshot, responses cut to headers.</param>
public sealed record ReplayBufferSnapshotApart(Core.Replay.ReplayBufferSnapshot Headers) : IRoRecompMessage;
