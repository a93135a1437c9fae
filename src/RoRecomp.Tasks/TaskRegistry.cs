using System.Collections.Immutable;
using RoRecomp.Tasks.Datasets;
using RoRecomp.Tasks.Synthetic;

namespace RoRecomp.Tasks;

/// <summary>
/// Settings to build a task by name: the data seed and test share for all tasks, and the dataset options for
/// <c>jsonl</c>. Task-specific knobs keep their documented defaults here; build the task directly to change them.
/// </summary>
/// <param name="Seed">Data seed (which problems are held out, stream order).</param>
/// <param name="TestPercent">Held-out share of distinct problems (1-50).</param>
/// <param name="Jsonl">Dataset options; required for <c>jsonl</c>.</param>
public sealed record TaskSettings(int Seed = 0, int TestPercent = 10, JsonlTaskOptions? Jsonl = null);

/// <summary>The tasks by name. An unknown name fails with the list of known names.</summary>
public static class TaskRegistry
{
    private static readonly ImmutableSortedDictionary<string, Func<TaskSettings, IRlTask>> Factories =
        new Dictionary<string, Func<TaskSettings, IRlTask>>
        {
            ["thinking"] = s => new ThinkingTask(new ThinkingOptions { Seed = s.Seed, TestPercent = s.TestPercent }),
            ["zero-rl"] = s => new ZeroRlTask(new ZeroRlOptions { Seed = s.Seed, TestPercent = s.TestPercent }),
            ["agentic"] = s => new AgenticTask(new AgenticOptions { Seed = s.Seed, TestPercent = s.TestPercent }),
            ["agentic-mixed"] = s => new MixedAgenticTask(new MixedAgenticOptions { Seed = s.Seed, TestPercent = s.TestPercent }),
            ["jsonl"] = s => new JsonlTask(s.Jsonl ?? throw new ArgumentException(
                "Task 'jsonl' needs dataset options (train path, field names, answer style): set them in the task settings.", nameof(s))),
        }.ToImmutableSortedDictionary(StringComparer.Ordinal);

    /// <summary>The known task names, sorted.</summary>
    public static ImmutableArray<string> Names => [.. Factories.Keys];

    /// <summary>Builds task <paramref name="name"/>; <see cref="ArgumentException"/> listing the known names when unknown.</summary>
    public static IRlTask Create(string name, TaskSettings? settings = null)
    {
        if (name is null || !Factories.TryGetValue(name, out var factory))
            throw new ArgumentException($"Unknown task '{name}'. Known tasks: {string.Join(", ", Names)}.", nameof(name));
        return factory(settings ?? new TaskSettings());
    }
}
