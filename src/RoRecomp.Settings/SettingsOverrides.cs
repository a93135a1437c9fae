using System.Collections.Immutable;

namespace RoRecomp.Settings;

/// <summary>
/// What an invocation layers over the defaults, applied once by <see cref="SettingsLoader.Resolve"/>: a resumed run's
/// saved <c>run.conf</c>, then <c>--config FILE</c>, then each <c>--set key=value</c>, then the typed values of the
/// command's own flags (<c>--run-dir</c>, <c>--steps</c>, <c>--hostname</c>, ...). A typed value is checked by the same
/// rule as its key, and an error names the flag it came from.
/// </summary>
/// <param name="ConfigFile">HOCON file (<c>--config</c>), or null.</param>
/// <param name="Sets">Overrides <c>key=value</c> (<c>--set</c>), in order; the key may omit the <c>rorecomp.</c> prefix.</param>
public sealed record SettingsOverrides(string? ConfigFile = null, IReadOnlyList<string>? Sets = null)
{
    /// <summary>A resumed run's saved layers (<c>run.conf</c>), under <see cref="ConfigFile"/>; or null.</summary>
    public string? BaseFile { get; init; }

    /// <summary><c>rorecomp.run.run-dir</c> (<c>--run-dir</c>).</summary>
    public string? RunDir { get; init; }

    /// <summary><c>rorecomp.run.steps</c> (<c>--steps</c>).</summary>
    public int? Steps { get; init; }

    /// <summary><c>rorecomp.run.seed</c> (a seed of <c>compare --seeds</c>).</summary>
    public int? Seed { get; init; }

    /// <summary><c>rorecomp.run.task</c> (<c>compare --task</c>).</summary>
    public string? Task { get; init; }

    /// <summary><c>rorecomp.run.eval-every</c>.</summary>
    public int? EvalEvery { get; init; }

    /// <summary><c>rorecomp.model.checkpoint</c> (<c>--checkpoint</c>, or a comparison's shared warm start).</summary>
    public string? Checkpoint { get; init; }

    /// <summary><c>rorecomp.async.max-policy-lag</c> (<c>bench pipeline --lag</c>).</summary>
    public int? MaxPolicyLag { get; init; }

    /// <summary><c>rorecomp.cluster.hostname</c> (<c>--hostname</c>); where this process sits, not saved in run.conf.</summary>
    public string? Hostname { get; init; }

    /// <summary><c>rorecomp.cluster.port</c> (<c>--port</c>); not saved in run.conf.</summary>
    public int? Port { get; init; }

    /// <summary><c>rorecomp.cluster.roles</c> (<c>--roles</c>, or <c>train --cluster</c>'s); not saved in run.conf.</summary>
    public ImmutableArray<string>? Roles { get; init; }

    /// <summary><c>rorecomp.cluster.seed-nodes</c> (<c>node --seed</c>, or <c>train --cluster</c>'s own address); not saved in run.conf.</summary>
    public ImmutableArray<string>? SeedNodes { get; init; }

    /// <summary>The <c>--set</c> overrides (none when <see cref="Sets"/> is null).</summary>
    public IReadOnlyList<string> SetList => Sets ?? [];

    /// <summary>The typed values that are given, with their key (without <c>rorecomp.</c>) and the flag they came from.</summary>
    internal IEnumerable<TypedValue> Typed()
    {
        if (RunDir is not null) yield return new("run.run-dir", RunDir, "--run-dir", Saved: true);
        if (Steps is { } steps) yield return new("run.steps", steps, "--steps", Saved: true);
        if (Seed is { } seed) yield return new("run.seed", seed, "--seeds", Saved: true);
        if (Task is not null) yield return new("run.task", Task, "--task", Saved: true);
        if (EvalEvery is { } evalEvery) yield return new("run.eval-every", evalEvery, "--eval-every", Saved: true);
        if (Checkpoint is not null) yield return new("model.checkpoint", Checkpoint, "--checkpoint", Saved: true);
        if (MaxPolicyLag is { } lag) yield return new("async.max-policy-lag", lag, "--lag", Saved: true);
        if (Hostname is not null) yield return new("cluster.hostname", Hostname, "--hostname", Saved: false);
        if (Port is { } port) yield return new("cluster.port", port, "--port", Saved: false);
        if (Roles is { } roles) yield return new("cluster.roles", roles, "--roles", Saved: false);
        if (SeedNodes is { } seeds) yield return new("cluster.seed-nodes", seeds, "--seed", Saved: false);
    }
}

/// <summary>One typed override: its key (without <c>rorecomp.</c>), value (string, int or string list) and flag.</summary>
/// <param name="Key">The key, e.g. <c>run.steps</c>.</param>
/// <param name="Value">A <see cref="string"/>, <see cref="int"/> or <see cref="ImmutableArray{T}"/> of strings.</param>
/// <param name="Flag">Where it came from, for error messages.</param>
/// <param name="Saved">Whether a run's <c>run.conf</c> keeps it (not for where this process sits in a cluster).</param>
internal sealed record TypedValue(string Key, object Value, string Flag, bool Saved);
