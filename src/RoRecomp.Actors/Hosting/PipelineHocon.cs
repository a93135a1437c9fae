using Akka.Configuration;

namespace RoRecomp.Actors.Hosting;

/// <summary>HOCON the pipeline's actors need: the dispatcher that gives each compute actor (sampler, learner) its own thread.</summary>
public static class PipelineHocon
{
    /// <summary>Dispatcher id for actors that block on TorchSharp work.</summary>
    public const string ComputeDispatcher = "rorecomp-compute-dispatcher";

    /// <summary>The dispatcher definition, and Akka's own log at WARNING (the run has its own progress display).</summary>
    public static Config Config { get; } = ConfigurationFactory.ParseString($$"""
        akka.loglevel = WARNING
        # Akka 1.5.73's proxy logs "failed to find ... after 30 seconds" within a second of start-up while the
        # singleton is still coming up: noise, so off (a run that waits for a singleton says so in its progress).
        akka.cluster.singleton-proxy.log-singleton-identification-failure = off
        {{ComputeDispatcher}} {
          type = PinnedDispatcher
        }
        """);

    /// <summary>
    /// <see cref="Config"/> plus the downing: <see cref="LearnerDowningProvider"/> (the learner node decides alone) with
    /// <paramref name="stableAfterSeconds"/>, the seconds a node stays unreachable before it is downed. Akka's split-brain
    /// resolver is not used: keep-oldest downed the learner side in two ways that <c>rorecomp chaos</c> found, when
    /// reachability kept changing (down-all-when-unstable: seeds 3 and 11) and when crashed samplers had seen a crashed
    /// verifier ("indirectly connected", twice: seed 7); the run stopped with "the actor system stopped before the run
    /// finished". A config file may still set <c>akka.cluster.downing-provider-class</c> to Akka's own.
    /// </summary>
    public static Config Cluster(int stableAfterSeconds) =>
        ConfigurationFactory.ParseString($"""
            akka.cluster.downing-provider-class = "{typeof(LearnerDowningProvider).AssemblyQualifiedName}"
            {LearnerDowningProvider.StableAfterKey} = {stableAfterSeconds}s
            """).WithFallback(Config);
}
