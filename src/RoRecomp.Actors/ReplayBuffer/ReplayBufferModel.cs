using System.Collections.Immutable;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Actors.ReplayBuffer;

/// <summary>
/// Interim pure event-sourced model of the replay buffer (commands -> events via <c>Process*</c>, <see cref="Apply"/>
/// folds events). It stands in for <c>RoRecomp.Core.Replay.ReplayBufferState</c> until the core branch lands, and has
/// the same shape so the swap is mechanical; no Akka here. Responses are held in insertion order (oldest first).
/// </summary>
internal sealed record ReplayBufferModel(ImmutableList<Response> Responses, ImmutableHashSet<string> Ids)
{
    public static readonly ReplayBufferModel Empty = new(ImmutableList<Response>.Empty, ImmutableHashSet<string>.Empty);

    public int Count => Responses.Count;

    /// <summary>New responses (duplicate ids removed, also within the batch), then a capacity eviction of the oldest if needed.</summary>
    public (ImmutableArray<IReplayBufferEvent> Events, int Stored, int Duplicates) ProcessStore(ImmutableArray<Response> responses, int capacity)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var fresh = ImmutableArray.CreateBuilder<Response>();
        foreach (var r in responses.IsDefault ? [] : responses)
            if (!Ids.Contains(r.Id) && seen.Add(r.Id))
                fresh.Add(r);
        var duplicates = (responses.IsDefault ? 0 : responses.Length) - fresh.Count;
        if (fresh.Count == 0)
            return ([], 0, duplicates);
        var events = ImmutableArray.CreateBuilder<IReplayBufferEvent>();
        events.Add(new ResponsesStored(fresh.ToImmutable()));
        var overflow = Count + fresh.Count - capacity;
        if (overflow > 0)
        {
            // Oldest first: held ones, then (if the batch alone exceeds capacity) the batch's first ones.
            var ids = Responses.Take(overflow).Select(r => r.Id).Concat(fresh.Take(Math.Max(0, overflow - Count)).Select(r => r.Id));
            events.Add(new ResponsesEvicted([.. ids], "capacity"));
        }
        return (events.ToImmutable(), fresh.Count, duplicates);
    }

    /// <summary>A full batch (oldest-first, or a seeded uniform sample), or null when fewer than <paramref name="batchSize"/> are held.</summary>
    public ResponsesDrawn? ProcessDraw(int batchSize, string drawOrder, long seed)
    {
        if (batchSize <= 0 || Count < batchSize)
            return null;
        if (drawOrder == "uniform")
        {
            var rng = new Random(unchecked((int)seed ^ (int)(seed >> 32)));
            var indices = Enumerable.Range(0, Count).ToArray();
            rng.Shuffle(indices);
            return new ResponsesDrawn([.. indices.Take(batchSize).Order().Select(i => Responses[i].Id)]);
        }
        return new ResponsesDrawn([.. Responses.Take(batchSize).Select(r => r.Id)]);
    }

    /// <summary>Responses sampled more than <paramref name="maxStaleness"/> versions before <paramref name="currentPolicyVersion"/>.</summary>
    public ResponsesEvicted? ProcessEvictStale(long currentPolicyVersion, int maxStaleness)
    {
        var stale = Responses.Where(r => currentPolicyVersion - r.PolicyVersion > maxStaleness).Select(r => r.Id).ToImmutableArray();
        return stale.IsEmpty ? null : new ResponsesEvicted(stale, "stale");
    }

    /// <summary>Folds one event into the state (also used on recovery).</summary>
    public ReplayBufferModel Apply(IReplayBufferEvent e) => e switch
    {
        ResponsesStored s => new ReplayBufferModel(Responses.AddRange(s.Responses), Ids.Union(s.Responses.Select(r => r.Id))),
        ResponsesDrawn d => Remove(d.Ids),
        ResponsesEvicted v => Remove(v.Ids),
        _ => throw new ArgumentException($"unknown replay buffer event {e.GetType().Name}", nameof(e)),
    };

    public ReplayBufferSnapshot ToSnapshot() => new([.. Responses]);

    public static ReplayBufferModel FromSnapshot(ReplayBufferSnapshot s) =>
        new(ImmutableList.CreateRange(s.Responses), ImmutableHashSet.CreateRange(s.Responses.Select(r => r.Id)));

    private ReplayBufferModel Remove(ImmutableArray<string> ids)
    {
        var gone = ids.ToHashSet(StringComparer.Ordinal);
        return new ReplayBufferModel(Responses.RemoveAll(r => gone.Contains(r.Id)), Ids.Except(ids));
    }
}
