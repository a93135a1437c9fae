using Akka.Cluster.Hosting;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Remote.Hosting;
using RoRecomp.Actors.Configuration;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Serialization;

namespace RoRecomp.Actors.Hosting;

/// <summary>ActorRegistry key of the replay buffer singleton proxy (<c>registry.Get&lt;ReplayBufferKey&gt;()</c>).</summary>
public sealed class ReplayBufferKey;

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
            .AddHocon(persistenceHocon.WithFallback(SerializationHocon.Config), HoconAddMode.Prepend)
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
}
