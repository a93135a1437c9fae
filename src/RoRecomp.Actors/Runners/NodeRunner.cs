using System.Globalization;
using RoRecomp.Settings;
using RoRecomp.Actors.Coordination;
using RoRecomp.Actors.Hosting;
using RoRecomp.Actors.Protocols;
using RoRecomp.Training;
using RoRecomp.Actors.Persistence;
using RoRecomp.Training.Runs;
using RoRecomp.Model.Runtime;

namespace RoRecomp.Actors.Runners;

/// <summary>What <c>node</c> was asked to do.</summary>
/// <param name="Settings">The layers over the defaults (give every node the run's config) with this node's typed flags:
/// <see cref="SettingsOverrides.Roles"/> (sampler, verifier, buffer; the learner role runs with <c>train --cluster</c>),
/// <see cref="SettingsOverrides.SeedNodes"/> (<c>akka.tcp://rorecomp@host:port</c>), and optionally
/// <see cref="SettingsOverrides.Hostname"/> and <see cref="SettingsOverrides.Port"/> (0 = any).</param>
public sealed record NodeOptions(SettingsOverrides Settings);

/// <summary>
/// The <c>node</c> job: joins a running cluster with the given roles and works until stopped (Ctrl+C / SIGTERM: the
/// node leaves the cluster gracefully), until the learner announces that the run finished (exit 0), or until it gives
/// up: no seed answered within <c>cluster.join-timeout</c> (saying every 10 s what it waits for), or the learner refused
/// this node's configuration (exit 1). If the node is removed from the cluster (e.g. the learner node stayed unreachable
/// and this node downed itself: <see cref="Hosting.LearnerDowningActor"/>), or the learner left before the run finished, it starts again and rejoins the
/// seeds, so a restarted learner finds its samplers again (<see cref="NodeWatchActor"/>).
/// </summary>
public static class NodeRunner
{
    /// <summary>Seconds between a lost membership and the next join attempt.</summary>
    public const int RejoinDelaySeconds = 5;

    /// <summary>
    /// Runs the node until <paramref name="cancellationToken"/> is cancelled (returns 0), the learner announces the run
    /// finished (0), or the node gives up: it could not join within <c>cluster.join-timeout</c>, or the learner refused its
    /// configuration (1). Returns the process's exit code.
    /// </summary>
    public static async Task<int> RunAsync(NodeOptions o, TextWriter output, CancellationToken cancellationToken)
    {
        if (o.Settings.Roles is not { IsDefaultOrEmpty: false } roles) throw new SettingsException("--roles is required (sampler, verifier, buffer; comma-separated)");
        if (roles.Contains(RoRecompHostingExtensions.LearnerRole))
            throw new SettingsException("the learner role runs with `train --cluster` (it owns the run); give this node sampler, verifier or buffer");
        if (o.Settings.SeedNodes is not { IsDefaultOrEmpty: false }) throw new SettingsException("--seed is required: the learner node's address, e.g. akka.tcp://rorecomp@10.0.0.1:4053");
        var loaded = SettingsLoader.Resolve(o.Settings);
        var settings = loaded.Settings;
        var runDir = Path.GetFullPath(settings.Run.RunDir);
        RunDirectoryLock? runLock = null;
        var hocon = PersistenceHocon.Build(settings.Persistence, runDir);
        if (settings.Cluster.Has(RoRecompHostingExtensions.BufferRole))
            (hocon, runLock) = PersistenceHocon.Prepare(settings.Persistence, runDir);   // the buffer journals here: lock it
        using var _ = runLock;
        hocon = loaded.Akka.WithFallback(hocon);   // akka.* keys of the config file (e.g. TLS) win
        RemoteCertificate.Load(loaded.Akka)?.Dispose();   // TLS on without a readable .pfx fails here, not at the first weight fetch
        if (settings.Cluster.Has(RoRecompHostingExtensions.SamplerRole)) TorchRuntime.EnsureLoaded();
        if (settings.Cluster.Has(RoRecompHostingExtensions.SamplerRole) || settings.Cluster.Has(RoRecompHostingExtensions.VerifierRole))
        {
            // What this node's samplers and verifiers build (the task's data, the tokenizer of model.path on this node,
            // the device), checked before joining: a bad path is one message and exit 2, not actors failing in the run.
            RunContext.CreateTokenizer(settings, RunContext.CreateTask(settings));
            if (settings.Cluster.Has(RoRecompHostingExtensions.SamplerRole)) output.WriteLine($"device: {PolicyFactory.Device(settings).Reason}");
        }
        var context = RunContext.ForWorker(settings);
        var seeds = string.Join(", ", settings.Cluster.SeedNodes);
        while (!cancellationToken.IsCancellationRequested)
        {
            var outcome = new TaskCompletionSource<NodeOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
            await using (var node = await RoRecompNode.StartAsync(b => b.AddRoRecompActors(settings, hocon).AddRoRecompPipeline(context, null), cancellationToken))
            {
                output.WriteLine($"node {Akka.Cluster.Cluster.Get(node.System).SelfAddress} (roles {string.Join(", ", settings.Cluster.Roles)}) joining {seeds}");
                node.System.ActorOf(NodeWatchActor.Props(output, seeds, settings.Cluster.JoinTimeoutSeconds, outcome), RunCoordinatorActor.RunWatchName);
                var printer = node.System.ActorOf(Akka.Actor.Props.Create(() => new LeasePrinter(output)), "lease-printer");
                node.System.EventStream.Subscribe(printer, typeof(LeaseSampled));
                node.System.EventStream.Subscribe(printer, typeof(PolicyFetched));
                using var stopped = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, node.Stopped);
                await Task.WhenAny(node.System.WhenTerminated, outcome.Task, Task.Delay(Timeout.Infinite, stopped.Token)).ContinueWith(_ => { }, TaskScheduler.Default);
            }
            if (cancellationToken.IsCancellationRequested) break;
            if (outcome.Task.IsCompleted)
            {
                var (code, line) = outcome.Task.Result;
                output.WriteLine(line);
                if (code is { } exit) return exit;
            }
            else
            {
                output.WriteLine("node: no longer a cluster member (the learner node left or crashed?)");
            }
            output.WriteLine($"node: rejoining {seeds} in {RejoinDelaySeconds} s");
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(RejoinDelaySeconds), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return 0;
    }

    /// <summary>Prints one line per sampled lease (the node's progress).</summary>
    private sealed class LeasePrinter : Akka.Actor.ReceiveActor
    {
        public LeasePrinter(TextWriter output)
        {
            Receive<LeaseSampled>(m => output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{m.SamplerId}: lease {m.LeaseId} (step {m.Step}, policy v{m.PolicyVersion}): {m.Responses} responses, {m.Tokens} tokens in {m.Seconds:F2} s")));
            Receive<PolicyFetched>(m => output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{m.SamplerId}: policy v{m.Version} fetched from {m.From} ({m.Bytes / 1e6:F1} MB, every chunk verified against the learner's digest) in {m.Seconds:F2} s")));
        }
    }
}
