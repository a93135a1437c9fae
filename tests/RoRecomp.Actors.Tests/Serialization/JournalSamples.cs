using System.Collections.Immutable;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Actors.Tests.Serialization;

/// <summary>
/// Representative instances of every journaled / snapshotted type, by name. The golden v1 bytes in
/// <c>v1-journal.json</c> were written from exactly these values by the v1 (positional) serializer (commit "golden v1 fixtures").
/// </summary>
internal static class JournalSamples
{
    private static ImmutableArray<Response> Responses(string prefix, int n) =>
        [.. Enumerable.Range(0, n).Select(i => RoRecompSerializerTests.MakeResponse($"{prefix}/{i}", version: 3 + i, length: 3 + i, withMask: i % 2 == 1))];

    /// <summary>Sample name -> (manifest, value).</summary>
    public static IReadOnlyDictionary<string, (string Manifest, object Value)> All { get; } = new Dictionary<string, (string, object)>
    {
        ["stored"] = ("E-ST", new ResponsesStored(Responses("ü-a", 3))),
        ["stored-empty-tokens"] = ("E-ST", new ResponsesStored([RoRecompSerializerTests.MakeResponse("e/0", length: 0, withMask: true)])),
        ["stored-none"] = ("E-ST", new ResponsesStored([])),
        ["drawn"] = ("E-DR", new ResponsesDrawn(["ü-a/0", "ü-a/2"], 12)),
        ["evicted-capacity"] = ("E-EV", new ResponsesEvicted(["ü-a/1"], EvictionReason.Capacity)),
        ["evicted-stale"] = ("E-EV", new ResponsesEvicted(["x/0", "x/1", "x/2"], EvictionReason.Stale)),
        ["snapshot"] = ("S-RB", new ReplayBufferSnapshot(Responses("s", 2), 7, ["gone/0", "gone/1"], [new DrawRecord(5, Responses("d5", 2)), new DrawRecord(6, [])])),
        ["snapshot-no-draws"] = ("S-RB", new ReplayBufferSnapshot(Responses("s", 1), 0, [])),
        ["checkpoint"] = ("E-CC", new CheckpointCommitted(new RunCheckpoint(20, 640, 20, "/runs/a/checkpoints/step-000020"))),
    };
}
