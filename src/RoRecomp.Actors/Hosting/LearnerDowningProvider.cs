using Akka.Actor;
using Akka.Cluster;

namespace RoRecomp.Actors.Hosting;

/// <summary>
/// Akka's downing provider for RoRecomp nodes (<c>akka.cluster.downing-provider-class</c>, set by
/// <see cref="PipelineHocon.Cluster"/>): <see cref="LearnerDowningActor"/> on every node, with
/// <c>akka.cluster.split-brain-resolver.stable-after</c> (<c>rorecomp.cluster.stable-after</c>) as the time a member stays
/// unreachable before it is downed. Akka creates it by reflection with (system, cluster).
/// </summary>
public sealed class LearnerDowningProvider : IDowningProvider
{
    /// <summary>The key read for the time a member stays unreachable before it is downed.</summary>
    public const string StableAfterKey = "akka.cluster.split-brain-resolver.stable-after";

    private readonly TimeSpan _stableAfter;
    private readonly TimeSpan _removalMargin;

    /// <summary>Called by Akka.Cluster when the cluster extension starts.</summary>
    public LearnerDowningProvider(ActorSystem system, Akka.Cluster.Cluster cluster)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(cluster);
        var config = system.Settings.Config;
        _stableAfter = config.GetTimeSpan(StableAfterKey, TimeSpan.FromSeconds(20));
        // As Akka's split-brain resolver: the singletons' hand-over waits this long after a removal (down-removal-margin
        // when set, else stable-after).
        _removalMargin = config.GetString("akka.cluster.down-removal-margin", "off") is "off" or "" ? _stableAfter
            : config.GetTimeSpan("akka.cluster.down-removal-margin");
    }

    /// <inheritdoc />
    public TimeSpan DownRemovalMargin => _removalMargin;

    /// <inheritdoc />
    public Props DowningActorProps => LearnerDowningActor.Props(_stableAfter);
}
