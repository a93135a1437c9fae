using System.Globalization;
using RoRecomp.Cli.Processes;
using RoRecomp.Settings;
using RoRecomp.Training.Runs;

namespace RoRecomp.Cli.Experiments;

/// <summary>
/// One <c>rorecomp train</c> run in a child process: how <c>compare --parallel</c> runs several at once (libtorch's random
/// generator is process-global, so two runs in one process would draw from each other's stream). The child gets the same
/// layers as an in-process run, its output goes to a log file, and <c>OMP_WAIT_POLICY=PASSIVE</c> keeps libgomp's idle
/// threads from spinning on the cores the other runs use.
/// </summary>
internal static class ChildRun
{
    /// <summary>Runs <c>train</c> with <paramref name="layers"/> (and <c>--resume</c>) and returns the run's summary.json.</summary>
    /// <exception cref="RunFailedException">The child exited with an error (the message has its log's last lines).</exception>
    public static async Task<RunSummaryFile> TrainAsync(SettingsOverrides layers, bool resume, string logFile, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var runDir = layers.RunDir ?? throw new ArgumentException("a compare run has a run directory", nameof(layers));
        using var child = NodeProcess.Start(Path.GetFileName(runDir), Arguments(layers, resume), logFile);
        using (cancellationToken.Register(child.Terminate))
        {
            await child.WaitForExitAsync(Timeout.InfiniteTimeSpan);
        }
        cancellationToken.ThrowIfCancellationRequested();
        if (child.ExitCode != 0 || RunFiles.ReadSummary(runDir) is not { } summary)
        {
            var tail = child.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(5);
            throw new RunFailedException($"train exited with {child.ExitCode.ToString(CultureInfo.InvariantCulture)} (log {logFile}): {string.Join(" | ", tail)}");
        }
        return summary;
    }

    /// <summary>
    /// The <c>train</c> command line of <paramref name="layers"/>: the config file, the <c>--set</c> overrides in order, then
    /// the typed values as <c>--set</c> too (last, so they win as a typed value does).
    /// </summary>
    internal static IEnumerable<string> Arguments(SettingsOverrides layers, bool resume)
    {
        if (layers.BaseFile is not null || layers.Hostname is not null || layers.Port is not null || layers.Roles is not null || layers.SeedNodes is not null)
            throw new ArgumentException("a compare run is a one-node run with no saved base layer", nameof(layers));
        yield return "train";
        if (layers.ConfigFile is not null)
        {
            yield return "--config";
            yield return layers.ConfigFile;
        }
        var typed = new List<string>();
        if (layers.Task is not null) typed.Add("run.task=" + layers.Task);
        if (layers.Seed is { } seed) typed.Add("run.seed=" + seed.ToString(CultureInfo.InvariantCulture));
        if (layers.EvalEvery is { } every) typed.Add("run.eval-every=" + every.ToString(CultureInfo.InvariantCulture));
        if (layers.Checkpoint is not null) typed.Add("model.checkpoint=" + layers.Checkpoint);
        if (layers.MaxPolicyLag is { } lag) typed.Add("async.max-policy-lag=" + lag.ToString(CultureInfo.InvariantCulture));
        foreach (var set in layers.SetList.Concat(typed))
        {
            yield return "--set";
            yield return set;
        }
        if (layers.RunDir is not null)
        {
            yield return "--run-dir";
            yield return layers.RunDir;
        }
        if (layers.Steps is { } steps)
        {
            yield return "--steps";
            yield return steps.ToString(CultureInfo.InvariantCulture);
        }
        if (resume) yield return "--resume";
    }
}
