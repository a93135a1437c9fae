using Akka.Cluster.Hosting;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Akka.Actor;
using RoRecomp.Actors.Configuration;
using RoRecomp.Actors.Coordination;
using RoRecomp.Actors.Learning;
using RoRecomp.Actors.Pipeline;
using RoRecomp.Actors.Recomposition;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Sampling;
using RoRecomp.Actors.Serialization;
using RoRecomp.Actors.Verification;

namespace RoRecomp.Actors.Hosting;

/// <summary>ActorRegistry key of the replay buffer singleton proxy (<c>registry.Get&lt;ReplayBufferKey&gt;()</c>).</summary>
public sealed class ReplayBufferKey;

/// <summary>ActorRegistry key of the run coordinator.</summary>
public sealed class RunCoordinatorKey;

/// <summary>ActorRegistry key of the learner.</summary>
public sealed class LearnerKey;

/// <summary>Akka.Hosting wiring of a RoRecomp node: remoting, cluster (self-join when no seeds), persistence, serializer, singletons.</summary>
public static class RoRecompHostingExtensions
{
    /// <summary>Singleton name and persistence id of the replay buffer.</summary>
    public const string ReplayBufferName = "replay-buffer";

    /// <summary>Cluster role that hosts the replay buffer singleton.</summary>
    public const string BufferRole = "buffer";

    /// <summary>
    /// Adds the RoRecomp actors to an Akka.Hosting builder. Even a single node runs the cluster code paths: with no
    /// <c>rorecomp.cluster.seed-nodes</c> it joins itself. The replay buffer runs as a cluster singleton on role
    /// <see cref="BufferRole"/>; its proxy is registered under <see cref="ReplayBufferKey"/>.
    /// </summary>
    /// <param name="builder">The Akka.Hosting builder.</param>
    /// <param name="settings">Loaded settings (<see cref="SettingsLoader"/>).</param>
    /// <param name="persistenceHocon">Journal/snapshot HOCON, from <see cref="Persistence.PersistenceHocon.Prepare"/>.</param>
    public static AkkaConfigurationBuilder AddRoRecompActors(this AkkaConfigurationBuilder builder, RoRecompSettings settings, Config persistenceHocon)
    {
        builder
            .AddHocon(persistenceHocon.WithFallback(SerializationHocon.Config).WithFallback(PipelineHocon.Config), HoconAddMode.Prepend)
            .WithRemoting(new RemoteOptions { HostName = settings.Cluster.Hostname, Port = settings.Cluster.Port })
            .WithClustering(new ClusterOptions { Roles = [.. settings.Cluster.Roles], SeedNodes = [.. settings.Cluster.SeedNodes] })
            .WithSingleton<ReplayBufferKey>(
                ReplayBufferName,
                ReplayBufferActor.Props(ReplayBufferName, SettingsMapping.ReplayBuffer(settings), settings.Buffer.SnapshotEvery),
                new ClusterSingletonOptions { Role = BufferRole },
                createProxyToo: true);
        if (settings.Cluster.SeedNodes.IsEmpty)
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
    /// Adds the training pipeline of one node (after <see cref="AddRoRecompActors"/>): the learner, the recomposer, the run
    /// coordinator (persistent), a verifier and <c>sampling.samplers</c> samplers. The learner pulls compensation
    /// batches from the replay buffer singleton's proxy; everything else talks by messages, so the same actors run on a
    /// cluster. <paramref name="reporter"/> receives the coordinator's progress.
    /// </summary>
    public static AkkaConfigurationBuilder AddRoRecompPipeline(this AkkaConfigurationBuilder builder, PipelineContext context, IRunReporter reporter)
    {
        return builder.WithActors((system, registry) =>
        {
            var buffer = registry.Get<ReplayBufferKey>();
            var learner = system.ActorOf(LearnerActor.Props(context, buffer), "learner");
            var recomposer = system.ActorOf(RecomposerActor.Props(context, buffer, learner), "recomposer");
            var coordinator = system.ActorOf(RunCoordinatorActor.Props(context, reporter, recomposer, learner), RunCoordinatorActor.Id);
            var verifier = system.ActorOf(VerifierActor.Props(context, recomposer), "verifier");
            for (var i = 0; i < context.Settings.Sampling.Samplers; i++)
                system.ActorOf(SamplerActor.Props(context, $"sampler-{i}", coordinator, learner, verifier), $"sampler-{i}");
            registry.Register<RunCoordinatorKey>(coordinator);
            registry.Register<LearnerKey>(learner);
        });
    }
}
