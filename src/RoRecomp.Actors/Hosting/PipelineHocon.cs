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

    /// <summary><see cref="Config"/> plus the split-brain resolver's stable-after (seconds a node stays unreachable before it is downed).</summary>
    public static Config Cluster(int stableAfterSeconds) =>
        ConfigurationFactory.ParseString($"akka.cluster.split-brain-resolver.stable-after = {stableAfterSeconds}s").WithFallback(Config);
}
