using Akka.Cluster.Hosting;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Akka.Actor;
using Akka.Pattern;
using Akka.Cluster.Routing;
using Akka.Routing;
using RoRecomp.Settings;
using RoRecomp.Actors.Coordination;
using RoRecomp.Training.Runs;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.Evaluation;
using RoRecomp.Actors.Learning;
using RoRecomp.Training;
using RoRecomp.Actors.Runners;
using RoRecomp.Actors.Recomposition;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Sampling;
using RoRecomp.Actors.Serialization;
using RoRecomp.Actors.Verification;
using RoRecomp.Core.Rewards;

namespace RoRecomp.Actors.Hosting;

/// <summary>ActorRegistry key of the replay buffer singleton proxy (<c>registry.Get&lt;ReplayBufferKey&gt;()</c>).</summary>
public sealed class ReplayBufferKey;

/// <summary>ActorRegistry key of the run coordinator singleton proxy.</summary>
public sealed class RunCoordinatorKey;

/// <summary>ActorRegistry key of the learner singleton proxy.</summary>
public sealed class LearnerKey;

/// <summary>ActorRegistry key of the recomposer singleton proxy.</summary>
public sealed class RecomposerKey;

/// <summary>ActorRegistry key of the policy publisher singleton proxy (the learner's weights for samplers and the evaluator).</summary>
public sealed class PolicyPublisherKey;

/// <summary>ActorRegistry key of the evaluator singleton proxy.</summary>
public sealed class EvaluatorKey;

/// <summary>
/// Akka.Hosting wiring of a RoRecomp node by its roles (<c>rorecomp.cluster.roles</c>): remoting, cluster (self-join when
/// no seeds, the learner node downs unreachable members: LearnerDowningProvider), persistence, serializer, and the actors of each role.
/// </summary>
public static class RoRecompHostingExtensions
{
    /// <summary>Singleton name and persistence id of the replay buffer.</summary>
    public const string ReplayBufferName = "replay-buffer";

    /// <summary>Cluster role that hosts the replay buffer singleton.</summary>
    public const string BufferRole = "buffer";

    /// <summary>Cluster role that hosts the run coordinator, recomposer and learner singletons.</summary>
    public const string LearnerRole = "learner";

    /// <summary>Cluster role of sampler nodes.</summary>
    public const string SamplerRole = "sampler";

    /// <summary>Cluster role of verifier nodes (a verifier actor at <c>/user/verifier</c>).</summary>
    public const string VerifierRole = "verifier";

    /// <summary>
    /// Adds remoting, clustering and the replay buffer singleton (on role <see cref="BufferRole"/>; a proxy elsewhere,
    /// registered under <see cref="ReplayBufferKey"/>). Even a single node runs the cluster code paths: with no
    /// <c>rorecomp.cluster.seed-nodes</c> it joins itself. Remoting binds to <c>rorecomp.cluster.hostname</c>
    /// (127.0.0.1 unless configured) and refuses frames over <c>akka.remote.dot-netty.tcp.maximum-frame-size</c> when the
    /// HOCON sets it (hocon/cluster.conf), else over <see cref="DefaultFrameSize"/>: policy weights travel beside it
    /// (WeightServer); a protocol message over it fails in the sender naming the setting (see <see cref="RoRecompSerializer"/>).
    /// </summary>
    /// <param name="builder">The Akka.Hosting builder.</param>
    /// <param name="settings">Loaded settings (<see cref="SettingsLoader"/>).</param>
    /// <param name="persistenceHocon">Journal/snapshot HOCON, from <see cref="Persistence.PersistenceHocon.Prepare"/>.</param>
    public static AkkaConfigurationBuilder AddRoRecompActors(this AkkaConfigurationBuilder builder, RoRecompSettings settings, Config persistenceHocon)
    {
        var c = settings.Cluster;
        builder
            .AddHocon(persistenceHocon.WithFallback(SerializationHocon.Config).WithFallback(PipelineHocon.Cluster(c.StableAfterSeconds)), HoconAddMode.Prepend)
            .WithRemoting(new RemoteOptions { HostName = c.Hostname, Port = c.Port, MaxFrameSize = FrameSize(persistenceHocon) })
            .WithClustering(new ClusterOptions
            {
                Roles = [.. c.Roles],
                SeedNodes = [.. c.SeedNodes],
                // No split-brain resolver option: the learner node decides who is downed (PipelineHocon.Cluster).
            });
        // The buffer keeps the last steps' events apart so a resume can rewind it to the checkpoint it continues from. It
        // runs under a backoff supervisor: a failed journal write stops it (Akka.Persistence's rule), and it comes back
        // recovered, so the recomposer's and learner's bounded retries (JournalRetry) can get through a full disk or a
        // database restart that clears in time.
        var bufferOptions = SettingsMapping.ReplayBuffer(settings) with { RewindSteps = SettingsMapping.BufferRewindSteps(settings) };
        Singleton<ReplayBufferKey>(builder, settings, ReplayBufferName, BufferRole,
            (_, _) => BackoffSupervisor.Props(Backoff.OnStop(
                ReplayBufferActor.Props(Persistence.PersistenceHocon.PersistenceId(ReplayBufferName, settings), bufferOptions, settings.Buffer.SnapshotEvery,
                    bodies: ReplayBuffer.ResponseBodyStore.ForRun(settings)),
                "buffer", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8), 0.2, maxNrOfRetries: -1)));
        if (c.SeedNodes.IsEmpty)
        {
            builder.AddStartup((system, _) =>
            {
                var cluster = Akka.Cluster.Cluster.Get(system);
                cluster.Join(cluster.SelfAddress);
            });
        }
        return builder;
    }

    /// <summary>
    /// Adds the training pipeline by role (after <see cref="AddRoRecompActors"/>): on <see cref="LearnerRole"/> the
    /// learner, policy publisher, evaluator, recomposer and run coordinator (persistent) as cluster singletons, reporting to
    /// <paramref name="reporter"/>; proxies to them on other nodes. On <see cref="VerifierRole"/> a verifier at
    /// <c>/user/verifier</c>; on <see cref="SamplerRole"/> <c>sampling.samplers</c> samplers that send to this node's own
    /// verifier when it has the verifier role, else to the verifiers of the cluster (a round-robin cluster router group).
    /// <paramref name="standIns"/> replaces the model-backed sampler and learner (<c>bench coordination</c> only).
    /// </summary>
    public static AkkaConfigurationBuilder AddRoRecompPipeline(this AkkaConfigurationBuilder builder, RunContext context, IRunReporter? reporter, PipelineStandIns? standIns = null)
    {
        var s = context.Settings;
        if (s.Cluster.Has(LearnerRole) && reporter is null)
            throw new ArgumentException("a node with the learner role runs the run coordinator and needs a reporter (run it with `train`)", nameof(reporter));
        Singleton<PolicyPublisherKey>(builder, s, "policy-publisher", LearnerRole, (_, _) => PolicyPublisherActor.Props(s.Cluster));
        Singleton<LearnerKey>(builder, s, "learner", LearnerRole, (_, r) => (standIns?.Learner ?? LearnerActor.Props)(context, r.Get<ReplayBufferKey>(), r.Get<PolicyPublisherKey>()));
        Singleton<EvaluatorKey>(builder, s, "evaluator", LearnerRole, (_, r) => EvaluatorActor.Props(context, r.Get<PolicyPublisherKey>()));
        Singleton<RecomposerKey>(builder, s, "recomposer", LearnerRole, (_, r) => RecomposerActor.Props(context, r.Get<ReplayBufferKey>(), r.Get<LearnerKey>()));
        Singleton<RunCoordinatorKey>(builder, s, RunCoordinatorActor.Id, LearnerRole,
            (_, r) => RunCoordinatorActor.Props(context, reporter!, r.Get<RecomposerKey>(), r.Get<LearnerKey>(), r.Get<EvaluatorKey>()));
        return builder.WithActors((system, registry) =>
        {
            if (reporter is not null) system.ActorOf(Persistence.JournalFaultWatcher.Props(s, reporter), "journal-fault-watcher");
            IActorRef? local = null;
            if (s.Cluster.Has(VerifierRole)) local = system.ActorOf(VerifierActor.Props(context, registry.Get<RecomposerKey>()), "verifier");
            if (!s.Cluster.Has(SamplerRole)) return;
            // A node's own verifier, when it has one: a lease's responses then cross the network once (verifier ->
            // recomposer) instead of twice (bench coordination measured the round-robin hop as half the remote bytes).
            var verifiers = local ?? system.ActorOf(
                Props.Empty.WithRouter(new ClusterRouterGroup(
                    new RoundRobinGroup(["/user/verifier"]),
                    new ClusterRouterGroupSettings(1000, ["/user/verifier"], allowLocalRoutees: true, useRole: VerifierRole))),
                "verifiers");
            var coordinator = registry.Get<RunCoordinatorKey>();
            var publisher = registry.Get<PolicyPublisherKey>();
            var node = Akka.Cluster.Cluster.Get(system).SelfAddress.ToString();
            for (var i = 0; i < s.Sampling.Samplers; i++)
                system.ActorOf((standIns?.Sampler ?? SamplerActor.Props)(context, $"{node}/sampler-{i}", coordinator, publisher, verifiers), $"sampler-{i}");
        });
    }

    /// <summary>Akka.Remote's frame limit when the HOCON does not set one: 8 MiB.</summary>
    public const int DefaultFrameSize = 8 * 1024 * 1024;

    /// <summary>The frame limit the node uses: the HOCON's <see cref="RoRecompSerializer.FrameSizeKey"/> (every node reads the same cluster.conf) or <see cref="DefaultFrameSize"/>.</summary>
    public static int FrameSize(Config hocon) =>
        hocon.HasPath(RoRecompSerializer.FrameSizeKey) && hocon.GetByteSize(RoRecompSerializer.FrameSizeKey) is { } bytes
            ? (int)Math.Min(bytes, int.MaxValue)
            : DefaultFrameSize;

    private static void Singleton<TKey>(AkkaConfigurationBuilder builder, RoRecompSettings settings, string name, string role, Func<ActorSystem, IActorRegistry, Props> props)
    {
        var options = new ClusterSingletonOptions { Role = role };
        if (settings.Cluster.Has(role)) builder.WithSingleton<TKey>(name, (system, registry, _) => props(system, registry), options, createProxyToo: true);
        else builder.WithSingletonProxy<TKey>(name, options);
    }
}
