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
    /// <see cref="Config"/> plus the split-brain resolver's stable-after (seconds a node stays unreachable before it is
    /// downed), and <c>down-all-when-unstable = off</c>: Akka's default downs every node, the learner side included, when
    /// reachability keeps changing for longer than stable-after x 1.75, which is what samplers that crash, restart and
    /// stall one after another look like. The learner side then stopped with "the actor system stopped before the run
    /// finished" (found by <c>rorecomp chaos</c>: seed 3 with the PostgreSQL journal, and seed 11, a SIGSTOP and a SIGKILL of
    /// samplers within seconds). Keep-oldest with the learner role decides alone: the learner side survives.
    /// </summary>
    public static Config Cluster(int stableAfterSeconds) =>
        ConfigurationFactory.ParseString($"""
            akka.cluster.split-brain-resolver.stable-after = {stableAfterSeconds}s
            akka.cluster.split-brain-resolver.down-all-when-unstable = off
            """).WithFallback(Config);
}
