using System.Globalization;
using RoRecomp.Core.IO;
using RoRecomp.Settings;
using RoRecomp.Actors.Coordination;
using RoRecomp.Training.Runs;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.Hosting;
using RoRecomp.Actors.Persistence;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Training;
using RoRecomp.Training.Steps;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Runtime;
using RoRecomp.Tasks;
using RoRecomp.Tasks.Datasets;

namespace RoRecomp.Actors.Runners;

/// <summary>What <c>train</c> was asked to do.</summary>
/// <param name="Settings">The layers over the defaults: <c>--config</c>, <c>--set</c> and the typed flags (<c>--run-dir</c>,
/// <c>--steps</c>, <c>--hostname</c>, and <c>--port</c>, which goes with <paramref name="Cluster"/>: default 4053).</param>
/// <param name="Resume">Continue the run in the run directory (<c>--resume</c>).</param>
/// <param name="Cluster">Run as the learner side of a cluster (<c>--cluster</c>): roles learner, buffer, verifier; a seed node on the port; samplers join.</param>
public sealed record TrainOptions(SettingsOverrides Settings, bool Resume = false, bool Cluster = false)
{
    /// <summary>Tests only: wraps the run's recorder (to inject a failing run-file write); the recorder still completes the run.</summary>
    internal Func<IRunReporter, IRunReporter>? WrapReporter { get; init; }
}

/// <summary>
/// The <c>train</c> job on one node: settle the settings (a fresh run saves them as <c>run.conf</c>; <c>--resume</c>
/// reads them back), lock the run directory, make the warm start when there is none (SFT into <c>&lt;run-dir&gt;/sft</c>),
/// then start the one-node cluster with the pipeline and wait until the coordinator reports the run finished or failed.
/// </summary>
public static class TrainRunner
{
    /// <summary>The saved configuration layers of a run (inside its directory).</summary>
    public const string RunConfigFile = RunFiles.RunConfigFile;

    /// <summary>Default Akka.Remote port of the learner node with <c>--cluster</c>.</summary>
    public const int ClusterPort = 4053;

    /// <summary>The address nodes join: <c>akka.tcp://rorecomp@host:port</c> (<c>akka.ssl.tcp</c> with TLS).</summary>
    public static string SeedAddress(string host, int port, bool ssl = false) =>
        $"{(ssl ? "akka.ssl.tcp" : "akka.tcp")}://rorecomp@{host}:{port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// How many times in a row the learner side starts itself again after losing its journal's database connection
    /// (<see cref="RunFailedException.JournalLost"/>) before the run stops resumably; a try that ran for
    /// <see cref="JournalRestartResetAfter"/> or longer starts the count again.
    /// </summary>
    public const int JournalRestarts = 6;

    /// <summary>A try of the learner side that lasted this long before it lost its journal again counts as recovered.</summary>
    public static readonly TimeSpan JournalRestartResetAfter = TimeSpan.FromMinutes(2);

    /// <summary>The pause before restart <paramref name="restart"/> (1-based): 2, 4, 8, 16, 30, 30... s.</summary>
    public static TimeSpan JournalRestartDelay(int restart) => TimeSpan.FromSeconds(Math.Min(30, 2 << Math.Clamp(restart - 1, 0, 4)));

    /// <summary>
    /// Runs (or resumes) a training job; throws <see cref="SettingsException"/> for bad input, <see cref="RunFailedException"/>
    /// when the run fails. When the run stops only because its journal's database connection was lost (a PostgreSQL
    /// restart mid-write), the learner side is started again in this process from its last commit, exactly as
    /// <c>--resume</c> would, up to <see cref="JournalRestarts"/> times in a row, with a pause that grows
    /// (<see cref="JournalRestartDelay"/>); sampler nodes rejoin it as they rejoin a resumed learner.
    /// </summary>
    public static async Task<RunSummary> RunAsync(TrainOptions o, TextWriter output, bool interactive, CancellationToken cancellationToken)
    {
        for (var restarts = 0; ;)
        {
            var attempt = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                return await RunOnceAsync(o, output, interactive, cancellationToken);
            }
            catch (RunFailedException e) when (e.JournalLost && !cancellationToken.IsCancellationRequested)
            {
                restarts = attempt.Elapsed >= JournalRestartResetAfter ? 1 : restarts + 1;
                if (restarts > JournalRestarts) throw;
                var delay = JournalRestartDelay(restarts);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"train: {e.Message}\ntrain: restarting the learner side from its last commit in {delay.TotalSeconds:F0} s, as --resume would " +
                    $"(restart {restarts} of {JournalRestarts} in a row)"));
                await Task.Delay(delay, cancellationToken);
                o = o with { Resume = true };
            }
        }
    }

    private static async Task<RunSummary> RunOnceAsync(TrainOptions o, TextWriter output, bool interactive, CancellationToken cancellationToken)
    {
        // The invocation's own layers (no run.conf yet): they say where the run directory is and how to reach this node.
        var layers = o.Settings with { BaseFile = null };
        var invocation = SettingsLoader.Resolve(layers);
        var first = invocation.Settings;
        if (o.Cluster)
        {
            var port = layers.Port ?? ClusterPort;
            var ssl = invocation.RemoteSsl;
            layers = layers with
            {
                Roles = [RoRecompHostingExtensions.LearnerRole, RoRecompHostingExtensions.BufferRole, RoRecompHostingExtensions.VerifierRole],
                Port = port,
                SeedNodes = [SeedAddress(first.Cluster.Hostname, port, ssl)],
            };
        }
        else if (layers.Port is not null)
        {
            throw new SettingsException("--port goes with --cluster (a single-node run picks a free port itself)");
        }
        var runDir = Path.GetFullPath(first.Run.RunDir);
        var runConf = Path.Combine(runDir, RunConfigFile);
        if (o.Resume)
        {
            if (!File.Exists(runConf))
                throw new SettingsException($"--resume: {runDir} holds no run to resume ({RunConfigFile} is missing); start one without --resume");
            layers = layers with { BaseFile = runConf };
        }
        else if (File.Exists(runConf) || File.Exists(Path.Combine(runDir, PersistenceHocon.DefaultSqliteFile)))
        {
            throw new SettingsException($"{runDir} already holds a run; continue it with --resume, or choose another --run-dir");
        }
        var loaded = SettingsLoader.Resolve(layers);
        var settings = loaded.Settings;
        TorchRuntime.EnsureLoaded();
        var device = PolicyFactory.Device(settings);
        var task = WarmStart.CheckFits(settings, runDir);
        CheckEndpoint(settings.Cluster);
        RemoteCertificate.Load(loaded.Akka)?.Dispose();   // TLS on without a readable .pfx fails here, not at the first weight fetch

        var journal = PersistenceHocon.SqliteFile(settings.Persistence, runDir);
        if (o.Resume) CheckResumable(journal, runDir); // before Prepare, which opens (so creates) the SQLite journal to set its mode
        var journalExisted = journal is not null && File.Exists(journal);
        var (hocon, runLock) = PersistenceHocon.Prepare(settings.Persistence, runDir);
        using var _ = runLock;
        settings = PersistenceHocon.SettleRunId(settings, runDir, fresh: !o.Resume);
        DurableFile.WriteAllText(runConf, SettingsLoader.RenderLayers(layers));

        RunRecorder recorder;
        RoRecompNode node;
        try
        {
            var warmStart = WarmStart.Prepare(settings, runDir, output, interactive, cancellationToken);
            var context = new RunContext(settings with { Run = settings.Run with { RunDir = runDir } }, settings.Run.Steps, warmStart,
                RunContext.ReadModelConfig(warmStart));
            output.WriteLine($"device: {device.Reason}{(settings.Model.Dtype == "bf16" ? "; samplers and evaluator in bf16, learner fp32" : "")}");
            if (task is JsonlTask data)
            {
                output.WriteLine($"data: {data.DistinctPrompts(Split.Train)} train / {data.DistinctPrompts(Split.Test)} test problems, " +
                    $"{data.Skipped.Length} malformed row(s) skipped (rorecomp.task.max-skipped = {settings.TaskData.MaxSkipped}){(data.Skipped.IsEmpty ? "" : $"; first: {data.Skipped[0]}")}");
            }
            recorder = new RunRecorder(runDir, settings.Run.Task, settings.Recomposition.Enabled, output, interactive,
                settings.Run.TensorBoard);
            output.WriteLine($"train: task {settings.Run.Task}, {settings.Run.Steps} steps of {settings.Run.PromptsPerStep} prompts x {settings.Run.SamplesPerPrompt} samples, " +
                $"recomposition {(settings.Recomposition.Enabled ? "on" : "off (plain GRPO)")}, run dir {runDir}");
            if (o.Cluster)
            {
                var seed = settings.Cluster.SeedNodes[0];
                output.WriteLine($"train --cluster: learner node {seed} (roles learner, buffer, verifier); " +
                    $"samplers join with: rorecomp node --roles sampler,verifier --seed {seed}");
            }
            node = await RoRecompNode.StartAsync(b => b.AddRoRecompActors(context.Settings, loaded.Akka.WithFallback(hocon)).AddRoRecompPipeline(context, o.WrapReporter?.Invoke(recorder) ?? recorder), cancellationToken);
        }
        catch (Exception) when (!o.Resume)
        {
            // Nothing ran: leave no half-started run behind, so the same command can be given again.
            Abandon(runDir, runConf, journalExisted ? null : journal);
            throw;
        }
        await using var __ = node;
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

    /// <summary>
    /// Refuses a <c>--resume</c> that would silently start over from the warm start, replacing the run's checkpoints:
    /// the run directory holds checkpoints or metrics but its SQLite journal (the committed state) is gone.
    /// </summary>
    private static void CheckResumable(string? journal, string runDir)
    {
        if (journal is null || File.Exists(journal)) return;   // PostgreSQL, or a connection string the run does not own
        var checkpoints = RunContext.CheckpointDirectoryOf(runDir);
        var hasCheckpoints = Directory.Exists(checkpoints) && Directory.EnumerateFileSystemEntries(checkpoints).Any();
        if (hasCheckpoints || File.Exists(Path.Combine(runDir, RunFiles.MetricsFile)))
        {
            throw new SettingsException($"--resume: {runDir} holds {(hasCheckpoints ? "checkpoints" : RunFiles.MetricsFile)} but not its journal " +
                $"({journal} is missing), so which checkpoint was committed is unknown; resuming would start over from the warm start " +
                "and replace them. Restore the journal, or start a new run in another --run-dir");
        }
    }

    /// <summary>
    /// Removes what a fresh run wrote before its node started (run.conf, the run id, the empty SQLite journal
    /// <paramref name="createdJournal"/> that this run created, wherever <c>sqlite-path</c> put it, and its bodies file),
    /// so the run directory does not look like a run to resume; a warm start made in <c>sft/</c> is kept (it is reused).
    /// </summary>
    private static void Abandon(string runDir, string runConf, string? createdJournal)
    {
        if (Directory.Exists(RunContext.CheckpointDirectoryOf(runDir)) || File.Exists(Path.Combine(runDir, RunFiles.MetricsFile))) return;
        string[] journalFiles = createdJournal is null ? [] : [createdJournal, ResponseBodyStore.BodiesFile(createdJournal)];
        foreach (var file in (string[])[runConf, Path.Combine(runDir, PersistenceHocon.RunIdFile), .. journalFiles])
        {
            foreach (var f in new[] { file, file + "-wal", file + "-shm", file + "-journal" })
            {
                try
                {
                    File.Delete(f);
                }
                catch (IOException)
                {
                    // best effort: the original error is the one to report
                }
            }
        }
    }

    /// <summary>
    /// Checks that this node can listen where it is told to (<c>--hostname</c> resolves to a local address, <c>--port</c>
    /// is free) before anything is written: Akka.Remote failing to bind aborts the process instead.
    /// </summary>
    private static void CheckEndpoint(ClusterSettings cluster)
    {
        System.Net.IPAddress[] addresses;
        try
        {
            addresses = System.Net.Dns.GetHostAddresses(cluster.Hostname);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            throw new SettingsException($"--hostname {cluster.Hostname} (rorecomp.cluster.hostname) does not resolve: {e.Message}", e);
        }
        if (addresses.Length == 0) throw new SettingsException($"--hostname {cluster.Hostname} (rorecomp.cluster.hostname) resolves to no address");
        var listener = new System.Net.Sockets.TcpListener(addresses[0], cluster.Port);
        try
        {
            listener.Start();
        }
        catch (System.Net.Sockets.SocketException e)
        {
            throw new SettingsException(cluster.Port > 0
                ? $"cannot listen on {cluster.Hostname}:{cluster.Port} (--port in use, or --hostname not an address of this machine): {e.Message}"
                : $"cannot listen on {cluster.Hostname} (--hostname is not an address of this machine): {e.Message}", e);
        }
        finally
        {
            listener.Stop();
        }
    }
}
