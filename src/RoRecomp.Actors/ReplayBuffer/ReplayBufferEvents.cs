using System.Collections.Immutable;
using RoRecomp.Actors.Serialization;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Actors.ReplayBuffer;

/// <summary>An event of the replay buffer's journal (serialised by <see cref="RoRecompSerializer"/>).</summary>
public interface IReplayBufferEvent : IRoRecompMessage;

/// <summary>New responses entered the buffer (one event per <see cref="StoreResponses"/> request, duplicates removed).</summary>
public sealed record ResponsesStored(ImmutableArray<Response> Responses) : IReplayBufferEvent;

/// <summary>Responses left the buffer in a compensation batch.</summary>
public sealed record ResponsesDrawn(ImmutableArray<string> Ids) : IReplayBufferEvent;

/// <summary>Responses were dropped: <c>stale</c> (too many policy versions old) or <c>capacity</c> (buffer full).</summary>
public sealed record ResponsesEvicted(ImmutableArray<string> Ids, string Reason) : IReplayBufferEvent;

/// <summary>Snapshot of the buffer: held responses in insertion order.</summary>
public sealed record ReplayBufferSnapshot(ImmutableArray<Response> Responses) : IRoRecompMessage;
