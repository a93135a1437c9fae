using System.Globalization;
using System.Text;
using RoRecomp.Settings;
using RoRecomp.Actors.Coordination;
using RoRecomp.Training.Runs;
using RoRecomp.Actors.Protocols;
using RoRecomp.Training;
using RoRecomp.Actors.Runners;
using RoRecomp.Actors.Hosting;
using RoRecomp.Cli.Reports;
using RoRecomp.Model.Runtime;

namespace RoRecomp.Cli.Experiments;

/// <summary>What <c>compare</c> was asked to do.</summary>
/// <param name="Task">Task name; <c>hocon/experiments/&lt;task&gt;.conf</c> is layered in when it exists.</param>
/// <param name="Arms">Arm names: grpo, rorecomp, length-penalty, or the name of a <c>hocon/experiments/&lt;name&gt;.conf</c>.</param>
/// <param name="Seeds">RL (and warm-start) seeds; each arm runs once per seed.</param>
/// <param name="OutDir">Experiment directory: <c>&lt;arm&gt;/seed-&lt;n&gt;/</c> runs, <c>warm-&lt;n&gt;/</c> warm starts, <c>configs/</c>, <c>report/</c>.</param>
/// <param name="Steps">RL steps per run, or null for the settings' <c>run.steps</c>.</param>
/// <param name="ConfigFile">HOCON layered over the task's experiment config, under the arm's (<c>--config</c>).</param>
/// <param name="Sets">Overrides <c>key=value</c> (<c>--set</c>), applied to every arm, under the arm's own keys.</param>
/// <param name="ExperimentsDir">Where arm and task configs are looked up, or null for <see cref="CompareRunner.DefaultExperimentsDir"/>.</param>
/// <param name="Parallel">Runs at once (<c>--parallel</c>): 1 runs them in turn in this process; more runs each as a child
/// <c>rorecomp train</c> process (libtorch's generator is process-global, so two runs never share a process).</param>
public sealed record ExperimentOptions(
    string Task, IReadOnlyList<string> Arms, IReadOnlyList<int> Seeds, string OutDir, int? Steps = null,
    string? ConfigFile = null, IReadOnlyList<string>? Sets = null, string? ExperimentsDir = null, int Parallel = 1);

/// <summary>One (arm, seed) run of a comparison: where it goes and the layers it runs with.</summary>
/// <param name="Arm">The arm.</param>
/// <param name="Seed">The seed.</param>
/// <param name="RunDir">Its run directory, <c>&lt;out&gt;/&lt;arm&gt;/seed-&lt;n&gt;</c>.</param>
/// <param name="Settings">Its layers: the arm's config file (<c>&lt;out&gt;/configs/&lt;arm&gt;.conf</c>), <c>--set</c> then the arm's keys, task and seed.</param>
public sealed record PlannedRun(string Arm, int Seed, string RunDir, SettingsOverrides Settings);

/// <summary>How the runs of a comparison ended.</summary>
public sealed record CompareResult(int Ran, int Skipped, IReadOnlyList<string> Failed, ReportResult? Report);

/// <summary>
/// The <c>compare</c> job: runs every (arm, seed) in turn, in process, with <see cref="TrainRunner"/> into
/// <c>&lt;out&gt;/&lt;arm&gt;/seed-&lt;n&gt;</c>, from one warm start per seed (<c>&lt;out&gt;/warm-&lt;n&gt;</c>, trained once unless
/// <c>model.checkpoint</c> is set), skipping finished runs and resuming interrupted ones (and continuing a finished run
/// that <c>--steps</c> asks to go further), then writes the report.
/// </summary>
public static class CompareRunner
{
    /// <summary>The reward-shaping arm's coefficient when the settings give none (<c>reward.length-penalty = 0</c>).</summary>
    public const double DefaultLengthPenalty = 0.5;

    /// <summary>The arms defined here rather than by a file.</summary>
    public static readonly IReadOnlyList<string> BuiltInArms = ["grpo", "rorecomp", "length-penalty"];

    /// <summary><c>hocon/experiments</c> under the working directory if there, else beside the executable.</summary>
    public static string DefaultExperimentsDir()
    {
        var local = Path.GetFullPath(Path.Combine("hocon", "experiments"));
        return Directory.Exists(local) ? local : Path.Combine(AppContext.BaseDirectory, "hocon", "experiments");
    }

    /// <summary>
    /// Resolves the arms into runs and writes each arm's config (task config, then <c>--config</c>, then the arm's file)
    /// to <c>&lt;out&gt;/configs/&lt;arm&gt;.conf</c>; every arm's settings are loaded once here, so a bad key fails before anything runs.
    /// </summary>
    public static List<PlannedRun> Plan(ExperimentOptions o)
    {
        if (o.Arms.Count == 0) throw new SettingsException("--arms: give at least one arm");
        if (o.Seeds.Count == 0) throw new SettingsException("--seeds: give at least one seed");
        if (o.Arms.Distinct(StringComparer.Ordinal).Count() != o.Arms.Count) throw new SettingsException("--arms: an arm is named twice");
        if (o.Seeds.Distinct().Count() != o.Seeds.Count) throw new SettingsException("--seeds: a seed is named twice");
        var experiments = o.ExperimentsDir ?? DefaultExperimentsDir();
        var taskConf = Path.Combine(experiments, o.Task + ".conf");
        var userSets = o.Sets ?? [];
        var layers = new List<(string What, string Path)>();
        if (File.Exists(taskConf)) layers.Add(("task " + o.Task, taskConf));
        if (o.ConfigFile is not null)
        {
            if (!File.Exists(o.ConfigFile)) throw new SettingsException($"config file (check the --config path) not found: {Path.GetFullPath(o.ConfigFile)}");
            layers.Add(("--config", Path.GetFullPath(o.ConfigFile)));
        }
        var configs = Path.Combine(Path.GetFullPath(o.OutDir), "configs");
        Directory.CreateDirectory(configs);
        // Per process: compares of different seeds may share an --out directory and run at the same time.
        var probe = $"_probe-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}";
        var runs = new List<PlannedRun>();
        foreach (var arm in o.Arms)
        {
            if (arm.Length == 0 || arm.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || arm.StartsWith("warm-", StringComparison.Ordinal) || arm is "configs" or "report")
                throw new SettingsException($"--arms: '{arm}' cannot name an arm (it is a directory name under --out)");
            var armLayers = new List<(string What, string Path)>(layers);
            List<string> armSets;
            var armFile = Path.Combine(experiments, arm + ".conf");
            switch (arm)
            {
                case "grpo":
                    armSets = ["recomposition.enabled=off", "reward.length-penalty=0"];
                    break;
                case "rorecomp":
                    armSets = ["recomposition.enabled=on", "reward.length-penalty=0"];
                    break;
                case "length-penalty":
                    var configured = SettingsLoader.Load(new SettingsOverrides(Concat(configs, probe, layers), userSets) { Task = o.Task }).Reward.LengthPenalty;
                    var coef = configured > 0 ? configured : DefaultLengthPenalty;
                    armSets = ["recomposition.enabled=off", $"reward.length-penalty={coef.ToString("R", CultureInfo.InvariantCulture)}"];
                    break;
                default:
                    if (!File.Exists(armFile))
                    {
                        var files = Directory.Exists(experiments)
                            ? Directory.GetFiles(experiments, "*.conf").Select(f => Path.GetFileNameWithoutExtension(f)).Order(StringComparer.Ordinal)
                            : Enumerable.Empty<string>();
                        throw new SettingsException($"--arms: unknown arm '{arm}': arms are {string.Join(", ", BuiltInArms)} or a config in {experiments} ({string.Join(", ", files)})");
                    }
                    armLayers.Add(("arm " + arm, armFile));
                    armSets = [];
                    break;
            }
            var configFile = Concat(configs, arm, armLayers);
            foreach (var seed in o.Seeds)
            {
                var runDir = Path.Combine(Path.GetFullPath(o.OutDir), arm, "seed-" + seed.ToString(CultureInfo.InvariantCulture));
                var runLayers = new SettingsOverrides(configFile, [.. userSets, .. armSets]) { Task = o.Task, Seed = seed };
                SettingsLoader.Load(runLayers);   // fail now, not hours in
                runs.Add(new PlannedRun(arm, seed, runDir, runLayers));
            }
        }
        File.Delete(Path.Combine(configs, probe + ".conf"));
        return runs;
    }

    /// <summary>The layers as one HOCON file (later text wins): <c>&lt;configs&gt;/&lt;name&gt;.conf</c>.</summary>
    private static string Concat(string configs, string name, List<(string What, string Path)> layers)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# written by rorecomp compare: the layers of {name}, in order (later keys win)");
        foreach (var (what, path) in layers)
        {
            sb.AppendLine($"# --- {what}: {path}");
            sb.AppendLine(File.ReadAllText(path).TrimEnd());
        }
        var file = Path.Combine(configs, name + ".conf");
        File.WriteAllText(file, sb.ToString());
        return file;
    }

    /// <summary>Runs the comparison (see the type's summary); a failed run is reported and the others go on.</summary>
    public static async Task<CompareResult> RunAsync(ExperimentOptions o, TextWriter output, CancellationToken cancellationToken)
    {
        if (o.Parallel < 1) throw new SettingsException($"--parallel {o.Parallel}: must be >= 1");
        var plan = Plan(o);
        output.WriteLine($"compare: {plan.Count} runs ({o.Arms.Count} arms x {o.Seeds.Count} seeds) of task {o.Task} into {Path.GetFullPath(o.OutDir)}" +
            (o.Parallel > 1 ? $", {o.Parallel} at once" : ""));
        var warmStarts = new Dictionary<int, string>();
        int skipped = 0, index = 0;
        var pending = new List<(string Tag, PlannedRun Run, SettingsOverrides Layers, bool Resume)>();
        var failed = new List<string>();
        foreach (var run in plan)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var tag = $"compare [{++index}/{plan.Count}] {run.Arm} seed {run.Seed}";
            if (RunFiles.IsFinished(run.RunDir))
            {
                // The summary is read only when --steps could ask for more: a plain rerun skips every finished run unread.
                var finishedAt = o.Steps is null ? null : RunFiles.ReadSummary(run.RunDir)?.Steps;
                if (o.Steps is not { } wanted || finishedAt is null || finishedAt >= wanted)
                {
                    output.WriteLine($"{tag}: finished earlier ({RunFiles.SummaryFile} present); skipped");
                    skipped++;
                    continue;
                }
                // A finished run that --steps asks to go further continues from its last checkpoint (written at its last
                // step), as a run planned that long would have gone on, unless something in it depends on run.steps.
                var settings = SettingsLoader.Load(run.Settings);
                if (SettingsMapping.Compensation(settings).FollowsRunLength)
                {
                    var schedule = settings.Compensation.WeightSchedule;
                    output.WriteLine($"{tag}: FAILED: finished at step {finishedAt}, and --steps {wanted} cannot continue it: its compensation " +
                        $"weight-schedule \"{schedule}\" ran over its {finishedAt} steps, so the continued run would not be the run planned for {wanted}; " +
                        "start it in another --out");
                    failed.Add($"{run.Arm}/seed-{run.Seed}: finished at step {finishedAt}; a {schedule} compensation schedule cannot be continued to {wanted} steps");
                    continue;
                }
                output.WriteLine($"{tag}: finished at step {finishedAt}; continuing it to step {wanted} (--steps)");
            }
            if (!warmStarts.TryGetValue(run.Seed, out var warm))
            {
                warm = warmStarts[run.Seed] = WarmStart(o, run, output, cancellationToken);
            }
            var layers = run.Settings with { RunDir = run.RunDir, Steps = o.Steps, Checkpoint = warm.Length > 0 ? warm : run.Settings.Checkpoint };
            pending.Add((tag, run, layers, File.Exists(Path.Combine(run.RunDir, TrainRunner.RunConfigFile))));
        }
        int ran = 0;
        var lines = TextWriter.Synchronized(output);
        async Task RunOne((string Tag, PlannedRun Run, SettingsOverrides Layers, bool Resume) p)
        {
            lines.WriteLine($"{p.Tag}: {(p.Resume ? "resuming" : "starting")} in {p.Run.RunDir}");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                (long Steps, double Accuracy, double Length, double Tools) s;
                if (o.Parallel == 1)
                {
                    var r = await TrainRunner.RunAsync(new TrainOptions(p.Layers, Resume: p.Resume), output, false, cancellationToken);
                    s = (r.Steps, r.FinalAccuracy, r.FinalMeanLength, r.FinalToolCalls);
                }
                else
                {
                    var log = Path.Combine(Path.GetFullPath(o.OutDir), "logs", $"{p.Run.Arm}-seed-{p.Run.Seed.ToString(CultureInfo.InvariantCulture)}.log");
                    var r = await ChildRun.TrainAsync(p.Layers, p.Resume, log, cancellationToken);
                    s = (r.Steps, r.Final?.Accuracy ?? double.NaN, r.Final?.MeanLength ?? double.NaN, r.Final?.ToolCalls ?? double.NaN);
                }
                lines.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{p.Tag}: done in {clock.Elapsed.TotalMinutes:F1} min, {s.Steps} steps: held-out accuracy {s.Accuracy:P1}, mean length {s.Length:F1}, tool calls {s.Tools:F2}"));
                lock (failed) ran++;
            }
            catch (RunFailedException ex)
            {
                lines.WriteLine($"{p.Tag}: FAILED: {ex.Message} (run compare again to resume it)");
                lock (failed) failed.Add($"{p.Run.Arm}/seed-{p.Run.Seed}: {ex.Message}");
            }
        }
        if (o.Parallel == 1)
        {
            foreach (var p in pending)
            {
                cancellationToken.ThrowIfCancellationRequested();
                await RunOne(p);
            }
        }
        else
        {
            using var slots = new SemaphoreSlim(o.Parallel);
            await Task.WhenAll(pending.Select(async p =>
            {
                await slots.WaitAsync(cancellationToken);
                try
                {
                    await RunOne(p);
                }
                finally
                {
                    slots.Release();
                }
            }));
        }
        ReportResult? report = null;
        try
        {
            report = ExperimentReport.Write(o.OutDir, Path.Combine(o.OutDir, "report"));
        }
        catch (ReportException ex)
        {
            output.WriteLine($"compare: no report: {ex.Message}");
        }
        return new CompareResult(ran, skipped, failed, report);
    }

    /// <summary>
    /// The seed's warm-start checkpoint: <c>model.checkpoint</c> when the layers set one (returned as "" = leave it),
    /// else <c>&lt;out&gt;/warm-&lt;seed&gt;/sft</c>, trained now (SFT with <c>warm-start.*</c>) if it holds none.
    /// </summary>
    private static string WarmStart(ExperimentOptions o, PlannedRun run, TextWriter output, CancellationToken cancellationToken)
    {
        var warmDir = Path.Combine(Path.GetFullPath(o.OutDir), "warm-" + run.Seed.ToString(CultureInfo.InvariantCulture));
        var settings = SettingsLoader.Load(run.Settings with { RunDir = warmDir });
        if (settings.Model.Checkpoint.Length > 0) return "";
        TorchRuntime.EnsureLoaded();
        output.WriteLine($"compare: warm start of seed {run.Seed} in {warmDir} (shared by every arm of this seed)");
        Directory.CreateDirectory(warmDir);
        return Training.Steps.WarmStart.Prepare(settings, warmDir, output, interactive: false, cancellationToken);
    }
}
