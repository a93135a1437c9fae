using System.Collections.Immutable;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Core.Tests;

/// <summary>Seeded random online batches for property-style tests.</summary>
internal static class Gen
{
    public static Response Response(string id, string prompt, int index, int length, bool correct, long step = 1, long version = 0, int toolCalls = 0) =>
        new(id, prompt, index, step, version, [1, 2, 3], [.. Enumerable.Repeat(7, length)], [.. Enumerable.Repeat(-0.5f, length)],
            Reward: correct ? 1 : 0, Correct: correct, ToolCalls: toolCalls);

    /// <summary>B groups of G responses with lengths in [1, maxLen] (small range so ties are common) and random correctness.</summary>
    public static List<RolloutGroup> Batch(int seed, int b = 8, int g = 8, int maxLen = 12, double pCorrect = 0.6, long step = 1)
    {
        var rng = new Random(seed);
        var groups = new List<RolloutGroup>();
        for (var p = 0; p < b; p++)
        {
            var responses = ImmutableArray.CreateBuilder<Response>();
            for (var i = 0; i < g; i++)
            {
                responses.Add(Response($"s{step}-p{p}-{i}", $"p{p}", i, rng.Next(1, maxLen + 1), rng.NextDouble() < pCorrect, step, toolCalls: rng.Next(0, 3)));
            }
            groups.Add(new RolloutGroup($"p{p}", step, responses.ToImmutable()));
        }
        return groups;
    }

    public static IEnumerable<int> Seeds(int n = 200) => Enumerable.Range(1, n);
}
