using RoRecomp.Core.Randomness;

namespace RoRecomp.Cli.Chaos;

/// <summary>The faults the chaos harness injects (its catalogue); <see cref="FaultPlan.Name"/> gives each its log name.</summary>
public enum FaultKind
{
    /// <summary>SIGKILL of a sampler node at a random moment of a step; restarted after a short pause.</summary>
    KillSampler,

    /// <summary>SIGKILL of a sampler node right after a new policy version was published, while it fetches the weights.</summary>
    KillSamplerInFetch,

    /// <summary>SIGKILL of the separate verifier node; restarted after a short pause.</summary>
    KillVerifier,

    /// <summary>SIGKILL of the learner side (<c>train --cluster</c>); restarted at once with <c>--resume</c>.</summary>
    KillLearner,

    /// <summary>SIGKILL of the learner side while it writes a checkpoint (its temp directory seen); restarted with <c>--resume</c>.</summary>
    KillLearnerInCheckpoint,

    /// <summary>SIGSTOP of a sampler for longer than <c>run.lease-timeout</c> and <c>cluster.stable-after</c>, then SIGCONT: a zombie with stale results.</summary>
    StopSampler,

    /// <summary>The PostgreSQL server (the harness's own) restarted in immediate mode mid-step (PostgreSQL journal only).</summary>
    RestartDatabase,

    /// <summary>
    /// A worker node (sampler or verifier, each in a network namespace of the harness's own) cut off from the cluster
    /// (its veth link down) for longer than <c>cluster.stable-after</c>, then healed (needs root).
    /// </summary>
    Partition,

    /// <summary>The disturbed run directory's tmpfs filled with a ballast file for a while, then the ballast deleted (needs root).</summary>
    DiskFull,

    /// <summary>The PostgreSQL server stopped for longer than a step (the last step's <c>step_s</c> plus the pause), then started (PostgreSQL journal only).</summary>
    DatabaseDown,
}

/// <summary>One planned fault: its kind, the step the run must have reached, and a delay after that.</summary>
/// <param name="Index">Its number in the plan (0-based).</param>
/// <param name="Kind">What is done.</param>
/// <param name="AtStep">It fires once <c>metrics.jsonl</c> holds this many steps.</param>
/// <param name="DelayMs">Milliseconds after that (a random moment inside the step).</param>
/// <param name="Pick">A random number that picks the target among the live nodes of the kind.</param>
/// <param name="PauseMs">How long the node stays down (killed: before its restart; stopped: before SIGCONT).</param>
public sealed record PlannedFault(int Index, FaultKind Kind, int AtStep, int DelayMs, int Pick, int PauseMs);

/// <summary>The seeded fault plan of a chaos run: which faults, at which steps, in which order (same seed, same plan).</summary>
public static class FaultPlan
{
    /// <summary>The log name of a fault kind (as the summary line counts them).</summary>
    public static string Name(FaultKind kind) => kind switch
    {
        FaultKind.KillSampler => "kill-sampler",
        FaultKind.KillSamplerInFetch => "kill-sampler-fetch",
        FaultKind.KillVerifier => "kill-verifier",
        FaultKind.KillLearner => "kill-learner",
        FaultKind.KillLearnerInCheckpoint => "kill-learner-checkpoint",
        FaultKind.StopSampler => "stop",
        FaultKind.RestartDatabase => "db",
        FaultKind.Partition => "partition",
        FaultKind.DiskFull => "disk",
        FaultKind.DatabaseDown => "db-down",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>The kind named <paramref name="name"/> (as <see cref="Name"/> gives it), or null.</summary>
    public static FaultKind? Parse(string name) => Enum.GetValues<FaultKind>().Cast<FaultKind?>().FirstOrDefault(k => Name(k!.Value) == name);

    /// <summary>Whether a kind needs root (network namespaces for <c>partition</c>, a tmpfs mount for <c>disk</c>).</summary>
    public static bool NeedsRoot(FaultKind kind) => kind is FaultKind.Partition or FaultKind.DiskFull;

    /// <summary>
    /// The kinds the catalogue draws from for a journal (<c>db</c> and <c>db-down</c> only with <c>postgresql</c>), with
    /// their weights. The kinds added later come last, so that restricting the catalogue to the earlier kinds
    /// (<paramref name="only"/>) draws the same plans as before for the same seed.
    /// </summary>
    /// <param name="journal">sqlite or postgresql.</param>
    /// <param name="only">Restrict to these kinds (empty: all that apply to the journal).</param>
    public static IReadOnlyList<(FaultKind Kind, int Weight)> Catalogue(string journal, IReadOnlyCollection<FaultKind>? only = null)
    {
        var pg = journal == "postgresql";
        (FaultKind Kind, int Weight)[] all =
        [
            (FaultKind.KillSampler, 4),
            (FaultKind.KillSamplerInFetch, 2),
            (FaultKind.KillVerifier, 2),
            (FaultKind.KillLearner, 1),
            (FaultKind.KillLearnerInCheckpoint, 1),
            (FaultKind.StopSampler, 3),
            .. pg ? [(FaultKind.RestartDatabase, 2)] : Array.Empty<(FaultKind, int)>(),
            (FaultKind.Partition, 2),
            (FaultKind.DiskFull, 1),
            .. pg ? [(FaultKind.DatabaseDown, 1)] : Array.Empty<(FaultKind, int)>(),
        ];
        return only is { Count: > 0 } ? [.. all.Where(c => only.Contains(c.Kind))] : all;
    }

    /// <summary>
    /// <paramref name="faults"/> faults drawn from <paramref name="catalogue"/> with <paramref name="seed"/>, each at a step
    /// in [1, <paramref name="steps"/> - 2] (so it fires before the run ends), ordered by step; a stop lasts
    /// <paramref name="stopMs"/> plus up to 3 s, a partition <paramref name="partitionMs"/> plus up to 3 s, a full disk
    /// 2-20 s, a database down a step plus 1-6 s, a killed node stays down 0.5-3 s.
    /// </summary>
    public static IReadOnlyList<PlannedFault> Make(int faults, int seed, int steps, IReadOnlyList<(FaultKind Kind, int Weight)> catalogue, int stopMs, int partitionMs)
    {
        if (steps < 3) throw new ArgumentOutOfRangeException(nameof(steps), steps, "a chaos run needs at least 3 steps");
        if (catalogue.Count == 0) throw new ArgumentException("the fault catalogue is empty", nameof(catalogue));
        var total = catalogue.Sum(c => c.Weight);
        var rng = new SplitMix64(SplitMix64.Mix((ulong)seed ^ 0xC4A05UL));
        var plan = new List<PlannedFault>();
        for (var i = 0; i < faults; i++)
        {
            var draw = rng.Between(0, total - 1);
            var kind = catalogue.First(c => (draw -= c.Weight) < 0).Kind;
            var pause = kind switch
            {
                FaultKind.StopSampler => stopMs + rng.Between(0, 3000),
                FaultKind.Partition => partitionMs + rng.Between(0, 3000),
                FaultKind.DiskFull => rng.Between(2000, 20000),
                FaultKind.DatabaseDown => rng.Between(1000, 6000),
                _ => rng.Between(500, 3000),
            };
            plan.Add(new PlannedFault(i, kind, rng.Between(1, steps - 2), rng.Between(0, 1500), rng.Between(0, int.MaxValue - 1), pause));
        }
        return [.. plan.OrderBy(f => f.AtStep).ThenBy(f => f.Index)];
    }
}
