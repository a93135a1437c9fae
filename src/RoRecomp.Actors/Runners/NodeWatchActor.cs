using System.Globalization;
using Akka.Actor;
using Akka.Cluster;
using RoRecomp.Actors.Coordination;
using RoRecomp.Actors.Hosting;
using RoRecomp.Actors.Protocols;

namespace RoRecomp.Actors.Runners;

/// <summary>What ends one membership of a <c>node</c> process: exit with a code, or leave and join the seeds again.</summary>
/// <param name="ExitCode">The process's exit code, or null to rejoin.</param>
/// <param name="Line">What the node prints about it.</param>
internal sealed record NodeOutcome(int? ExitCode, string Line);

/// <summary>
/// Watches one membership of a <c>node</c> process, at <c>/user/run-watch</c>: says in its own words what the node is
/// waiting for while it has not joined (every <see cref="ReportEvery"/>) and gives up after <c>cluster.join-timeout</c>;
/// ends the process when the learner announces the run finished (<see cref="RunEnded"/>) or refuses this node's
/// configuration (<see cref="SamplerRefused"/>); and rejoins when the learner left the cluster without finishing the
/// run (stopped to be resumed): a lone node would otherwise never see a restarted learner.
/// </summary>
internal sealed class NodeWatchActor : ReceiveActor, IWithTimers
{
    /// <summary>How often a node that has not joined says what it waits for.</summary>
    public static readonly TimeSpan ReportEvery = TimeSpan.FromSeconds(10);

    private readonly DateTime _started = DateTime.UtcNow;
    private readonly TimeSpan _reportEvery;
    private readonly int _joinTimeoutSeconds;
    private bool _joined;

    /// <summary>Creates the watcher; use <see cref="Props"/>.</summary>
    public NodeWatchActor(TextWriter output, string seeds, int joinTimeoutSeconds, TaskCompletionSource<NodeOutcome> outcome, TimeSpan reportEvery)
    {
        _reportEvery = reportEvery;
        _joinTimeoutSeconds = joinTimeoutSeconds;
        Receive<GiveUp>(_ =>
        {
            if (_joined) return;
            outcome.TrySetResult(new NodeOutcome(1, string.Create(CultureInfo.InvariantCulture,
                $"node: gave up: could not join {seeds} within {joinTimeoutSeconds} s (rorecomp.cluster.join-timeout; 0 = wait forever). Is the learner (`train --cluster`) running there, and are its address, port and cluster name (rorecomp) the ones given to --seed?")));
        });
        Receive<Tick>(_ =>
        {
            if (_joined) return;
            var waited = (int)(DateTime.UtcNow - _started).TotalSeconds;
            var limit = joinTimeoutSeconds > 0 ? $"giving up after {joinTimeoutSeconds} s" : "waiting until it answers (join-timeout = 0)";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"node: waiting to join {seeds}: no answer for {waited} s ({limit})"));
        });
        Receive<Joined>(_ =>
        {
            _joined = true;
            Timers.CancelAll();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"node: joined the cluster after {(DateTime.UtcNow - _started).TotalSeconds:F1} s"));
        });
        Receive<RunEnded>(m =>
        {
            if (m.Finished) outcome.TrySetResult(new NodeOutcome(0, $"node: {m.Reason}; nothing more to do, exiting"));
            else outcome.TrySetResult(new NodeOutcome(null, $"node: {m.Reason}; waiting for a learner to resume it"));
        });
        Receive<SamplerRefused>(m => outcome.TrySetResult(new NodeOutcome(1,
            $"node: the learner refused {m.SamplerId}: {m.Reason}. Give every node the run's config; keys that differ (this node, the learner):\n  " +
            string.Join("\n  ", m.Differences))));
        Receive<ClusterEvent.MemberRemoved>(m =>
        {
            if (!m.Member.HasRole(RoRecompHostingExtensions.LearnerRole) || m.PreviousStatus != MemberStatus.Exiting) return;
            outcome.TrySetResult(new NodeOutcome(null, $"node: the learner node {m.Member.Address} left the cluster before the run finished (stopped, to be resumed?)"));
        });
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<ClusterEvent.CurrentClusterState>(_ => { });
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props of the watcher; create it as <see cref="RunCoordinatorActor.RunWatchName"/> under /user.</summary>
    public static Props Props(TextWriter output, string seeds, int joinTimeoutSeconds, TaskCompletionSource<NodeOutcome> outcome, TimeSpan? reportEvery = null) =>
        Akka.Actor.Props.Create(() => new NodeWatchActor(output, seeds, joinTimeoutSeconds, outcome, reportEvery ?? ReportEvery));

    /// <inheritdoc />
    protected override void PreStart()
    {
        var self = Self;
        var cluster = Cluster.Get(Context.System);
        cluster.Subscribe(self, ClusterEvent.InitialStateAsEvents, typeof(ClusterEvent.MemberRemoved));
        cluster.RegisterOnMemberUp(() => self.Tell(Joined.Instance));
        Context.System.EventStream.Subscribe(self, typeof(SamplerRefused));
        Timers.StartPeriodicTimer("tick", Tick.Instance, _reportEvery);
        if (_joinTimeoutSeconds > 0) Timers.StartSingleTimer("give-up", GiveUp.Instance, TimeSpan.FromSeconds(_joinTimeoutSeconds));
    }

    /// <inheritdoc />
    protected override void PostStop() => Cluster.Get(Context.System).Unsubscribe(Self);

    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    private sealed record GiveUp
    {
        public static readonly GiveUp Instance = new();
    }

    private sealed record Joined
    {
        public static readonly Joined Instance = new();
    }
}
