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
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>The kinds the catalogue draws from for a journal (<c>db</c> only with <c>postgresql</c>), with their weights.</summary>
    public static IReadOnlyList<(FaultKind Kind, int Weight)> Catalogue(string journal) =>
    [
        (FaultKind.KillSampler, 4),
        (FaultKind.KillSamplerInFetch, 2),
        (FaultKind.KillVerifier, 2),
        (FaultKind.KillLearner, 1),
        (FaultKind.KillLearnerInCheckpoint, 1),
        (FaultKind.StopSampler, 3),
        .. journal == "postgresql" ? [(FaultKind.RestartDatabase, 2)] : Array.Empty<(FaultKind, int)>(),
    ];

    /// <summary>
    /// <paramref name="faults"/> faults drawn from <see cref="Catalogue"/> with <paramref name="seed"/>, each at a step in
    /// [1, <paramref name="steps"/> - 2] (so it fires before the run ends), ordered by step; a stop lasts
    /// <paramref name="stopMs"/> plus up to 3 s.
    /// </summary>
    public static IReadOnlyList<PlannedFault> Make(int faults, int seed, int steps, string journal, int stopMs)
    {
        if (steps < 3) throw new ArgumentOutOfRangeException(nameof(steps), steps, "a chaos run needs at least 3 steps");
        var catalogue = Catalogue(journal);
        var total = catalogue.Sum(c => c.Weight);
        var rng = new SplitMix64(SplitMix64.Mix((ulong)seed ^ 0xC4A05UL));
        var plan = new List<PlannedFault>();
        for (var i = 0; i < faults; i++)
        {
            var draw = rng.Between(0, total - 1);
            var kind = catalogue.First(c => (draw -= c.Weight) < 0).Kind;
            var pause = kind == FaultKind.StopSampler ? stopMs + rng.Between(0, 3000) : rng.Between(500, 3000);
            plan.Add(new PlannedFault(i, kind, rng.Between(1, steps - 2), rng.Between(0, 1500), rng.Between(0, int.MaxValue - 1), pause));
        }
        return [.. plan.OrderBy(f => f.AtStep).ThenBy(f => f.Index)];
    }
}
