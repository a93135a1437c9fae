using RoRecomp.Model.Checkpoints;
using RoRecomp.Settings;

namespace RoRecomp.Training.Runs;

/// <summary>
/// Where the commands that read a trained policy (<c>export</c>, <c>eval</c>) find it: a run directory (its latest good
/// checkpoint, settings from its <c>run.conf</c>) or a given checkpoint directory (settings from the run two levels up,
/// <c>&lt;run-dir&gt;/checkpoints/step-N</c>, when there is one).
/// </summary>
public static class RunCheckpointSource
{
    /// <summary>
    /// The run directory (null when only a checkpoint outside a run is given) and the checkpoint (null = the run's latest
    /// good). <paramref name="runDir"/> null = <c>rorecomp.run.run-dir</c>. A missing directory is a <see cref="CheckpointException"/>.
    /// </summary>
    public static (string? RunDir, string? Checkpoint) Locate(string? runDir, string? checkpoint)
    {
        if (checkpoint is not null)
        {
            var cp = Path.GetFullPath(checkpoint);
            if (!Directory.Exists(cp)) throw new CheckpointException($"--checkpoint {cp}: no such directory");
            // <run-dir>/checkpoints/step-N: the run's settings are two levels up.
            var run = runDir is not null ? Path.GetFullPath(runDir) : Path.GetDirectoryName(Path.GetDirectoryName(cp));
            return (run is not null && File.Exists(Path.Combine(run, RunFiles.RunConfigFile)) ? run : null, cp);
        }
        var dir = Path.GetFullPath(runDir ?? SettingsLoader.Load(new SettingsOverrides()).Run.RunDir);
        if (!Directory.Exists(dir)) throw new CheckpointException($"--run-dir {dir}: no such directory");
        return (dir, null);
    }

    /// <summary>The run's settings from its <c>run.conf</c>, as <c>train --resume</c> reads them; null without one.</summary>
    public static RoRecompSettings? Settings(string? runDir)
    {
        if (runDir is null) return null;
        var runConf = Path.Combine(runDir, RunFiles.RunConfigFile);
        return File.Exists(runConf) ? SettingsLoader.Load(new SettingsOverrides { BaseFile = runConf }) : null;
    }

    /// <summary>
    /// Loads <paramref name="checkpoint"/> (verified), or when it is null the latest good checkpoint of
    /// <paramref name="runDir"/>, naming each damaged one it skips on <paramref name="output"/> (<paramref name="verb"/>: the command).
    /// </summary>
    public static Checkpoint Load(string? runDir, string? checkpoint, string verb, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (checkpoint is not null) return CheckpointStore.Load(checkpoint, withOptimizer: false);
        ArgumentNullException.ThrowIfNull(runDir);
        var dir = RunContext.CheckpointDirectoryOf(runDir);
        if (!Directory.Exists(dir) || !Directory.EnumerateDirectories(dir, "step-*").Any())
            throw new CheckpointException($"{runDir}: no checkpoint in the run ({dir} holds none; train writes one every " +
                $"rorecomp.checkpoint.every steps). For a warm start, give --checkpoint <run-dir>/sft/step-N");
        var loaded = new CheckpointStore(dir).LoadLatestGood(out var skipped, withOptimizer: false);
        foreach (var reason in skipped) output.WriteLine($"{verb}: skipped a damaged checkpoint: {reason}");
        return loaded ?? throw new CheckpointException($"{dir}: no checkpoint verifies ({string.Join("; ", skipped)})");
    }
}
