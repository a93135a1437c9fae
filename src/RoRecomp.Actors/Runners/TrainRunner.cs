using System.Globalization;
using RoRecomp.Core.IO;
using RoRecomp.Settings;
using RoRecomp.Actors.Coordination;
using RoRecomp.Training.Runs;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.Hosting;
using RoRecomp.Actors.Persistence;
using RoRecomp.Training;
using RoRecomp.Training.Steps;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Runtime;

namespace RoRecomp.Actors.Runners;

/// <summary>What <c>train</c> was asked to do.</summary>
/// <param name="ConfigFile">HOCON layered over the defaults (<c>--config</c>), or null.</param>
/// <param name="Sets">Overrides <c>key=value</c> (<c>--set</c>), in order.</param>
/// <param name="RunDir">Run directory (<c>--run-dir</c>), or null for <c>rorecomp.run.run-dir</c>.</param>
/// <param name="Resume">Continue the run in the run directory (<c>--resume</c>).</param>
/// <param name="Steps">Total steps (<c>--steps</c>), or null for <c>rorecomp.run.steps</c>.</param>
/// <param name="Cluster">Run as the learner side of a cluster (<c>--cluster</c>): roles learner, buffer, verifier; a seed node on <paramref name="Port"/>; samplers join.</param>
/// <param name="Port">Akka.Remote port with <c>--cluster</c> (default 4053).</param>
/// <param name="Hostname">Address other nodes reach this one at (<c>--hostname</c>), or null for <c>rorecomp.cluster.hostname</c>.</param>
public sealed record TrainOptions(
    string? ConfigFile, IReadOnlyList<string> Sets, string? RunDir = null, bool Resume = false, int? Steps = null,
    bool Cluster = false, int? Port = null, string? Hostname = null);

/// <summary>
/// The <c>train</c> job on one node: settle the settings (a fresh run saves them as <c>run.conf</c>; <c>--resume</c>
/// reads them back), lock the run directory, make the warm start when there is none (SFT into <c>&lt;run-dir&gt;/sft</c>),
/// then start the one-node cluster with the pipeline and wait until the coordinator reports the run finished or failed.
/// </summary>
public static class TrainRunner
{
    /// <summary>The saved configuration layers of a run (inside its directory).</summary>
    public const string RunConfigFile = "run.conf";

    /// <summary>Default Akka.Remote port of the learner node with <c>--cluster</c>.</summary>
    public const int ClusterPort = 4053;

    /// <summary>The address nodes join: <c>akka.tcp://rorecomp@host:port</c> (<c>akka.ssl.tcp</c> with TLS).</summary>
    public static string SeedAddress(string host, int port, bool ssl = false) =>
        $"{(ssl ? "akka.ssl.tcp" : "akka.tcp")}://rorecomp@{host}:{port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Runs (or resumes) a training job; throws <see cref="SettingsException"/> for bad input, <see cref="RunFailedException"/> when the run fails.</summary>
    public static async Task<RunSummary> RunAsync(TrainOptions o, TextWriter output, bool interactive, CancellationToken cancellationToken)
    {
        var sets = new List<string>(o.Sets);
        if (o.RunDir is not null) sets.Add($"run.run-dir={o.RunDir}");
        if (o.Steps is { } steps) sets.Add($"run.steps={steps.ToString(CultureInfo.InvariantCulture)}");
        if (o.Hostname is not null) sets.Add($"cluster.hostname={o.Hostname}");
        // The invocation's own layers (no run.conf yet): they say where the run directory is and how to reach this node.
        var first = SettingsLoader.LoadConfig(o.ConfigFile, sets);
        var firstSettings = SettingsLoader.FromConfig(first);
        if (o.Cluster)
        {
            var port = o.Port ?? ClusterPort;
            var host = firstSettings.Cluster.Hostname;
            var ssl = first.HasPath("akka.remote.dot-netty.tcp.enable-ssl") && first.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl");
            sets.Add("cluster.roles=[learner, buffer, verifier]");
            sets.Add($"cluster.port={port.ToString(CultureInfo.InvariantCulture)}");
            sets.Add($"cluster.seed-nodes=[\"{SeedAddress(host, port, ssl)}\"]");
        }
        else if (o.Port is not null)
        {
            throw new SettingsException("--port goes with --cluster (a single-node run picks a free port itself)");
        }
        var runDir = Path.GetFullPath(firstSettings.Run.RunDir);
        var runConf = Path.Combine(runDir, RunConfigFile);
        string? baseFile = null;
        if (o.Resume)
        {
            if (!File.Exists(runConf))
                throw new SettingsException($"--resume: {runDir} holds no run to resume ({RunConfigFile} is missing); start one without --resume");
            baseFile = runConf;
        }
        else if (File.Exists(runConf) || File.Exists(Path.Combine(runDir, PersistenceHocon.DefaultSqliteFile)))
        {
            throw new SettingsException($"{runDir} already holds a run; continue it with --resume, or choose another --run-dir");
        }
        var merged = SettingsLoader.LoadConfig(o.ConfigFile, sets, baseFile);
        var settings = SettingsLoader.FromConfig(merged);

        var (hocon, runLock) = PersistenceHocon.Prepare(settings.Persistence, runDir);
        using var _ = runLock;
        // Where this process sits in a cluster is a property of the invocation, not of the run: not saved in run.conf.
        var layers = SettingsLoader.RenderLayers(o.ConfigFile, [.. sets.Where(x => !x.StartsWith("cluster.", StringComparison.Ordinal))], baseFile);
        DurableFile.WriteAllText(runConf, layers);

        TorchRuntime.EnsureLoaded();
        var warmStart = WarmStart.Prepare(settings, runDir, output, interactive);
        var context = new RunContext(settings with { Run = settings.Run with { RunDir = runDir } }, settings.Run.Steps, warmStart,
            RunContext.ReadModelConfig(warmStart));
        var recorder = new RunRecorder(runDir, settings.Run.Task, settings.Recomposition.Enabled, output, interactive);
        output.WriteLine($"train: task {settings.Run.Task}, {settings.Run.Steps} steps of {settings.Run.PromptsPerStep} prompts x {settings.Run.SamplesPerPrompt} samples, " +
            $"recomposition {(settings.Recomposition.Enabled ? "on" : "off (plain GRPO)")}, run dir {runDir}");
        if (o.Cluster)
        {
            var seed = settings.Cluster.SeedNodes[0];
            output.WriteLine($"train --cluster: learner node {seed} (roles learner, buffer, verifier); " +
                $"samplers join with: rorecomp node --roles sampler,verifier --seed {seed}");
        }
        await using var node = await RoRecompNode.StartAsync(b => b.AddRoRecompActors(context.Settings, SettingsLoader.AkkaSection(merged).WithFallback(hocon)).AddRoRecompPipeline(context, recorder), cancellationToken);
        using var stopped = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, node.Stopped);
        var finished = await Task.WhenAny(recorder.Completion, Task.Delay(Timeout.Infinite, stopped.Token));
        if (finished != recorder.Completion)
        {
            throw new OperationCanceledException(cancellationToken.IsCancellationRequested
                ? "train: interrupted; continue with --resume"
                : "train: the actor system stopped before the run finished; continue with --resume");
        }
        return await recorder.Completion;
    }
}
