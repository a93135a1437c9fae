using System.Collections.Immutable;
using System.Globalization;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace RoRecomp.Actors.Hosting;

/// <summary>
/// The downing of this topology, on every node (<see cref="LearnerDowningProvider"/>): the learner node decides alone.
/// On the node with the <see cref="RoRecompHostingExtensions.LearnerRole"/> role, a member that has stayed unreachable
/// (in anyone's observation) for <c>stable-after</c> is downed; the learner never downs itself. On any other node, a
/// learner that has stayed unreachable for <c>stable-after</c> makes the node down itself: its process then rejoins the
/// seeds (<see cref="Runners.NodeRunner"/>), where a restarted learner finds it.
/// </summary>
/// <remarks>
/// Akka's split-brain resolver (keep-oldest, which this replaces) first looks for "indirectly connected" nodes: a node
/// that observed another as unreachable and is itself unreachable. Crashed samplers that had seen a crashed verifier
/// before they died look exactly like that, and when its second decision again finds such nodes it downs every node,
/// the learner included ("SBR double DownIndirectlyConnected decision, downing all instead"; found by
/// <c>rorecomp chaos --seed 7</c>: the verifier killed, then two samplers within 5 s). Here only reachability of the
/// learner matters, per member, so no pattern of crashes downs the learner side.
/// </remarks>
public sealed class LearnerDowningActor : ReceiveActor, IWithTimers
{
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly TimeSpan _stableAfter;
    private readonly Dictionary<UniqueAddress, (Member Member, DateTime Since)> _unreachable = [];
    private readonly HashSet<UniqueAddress> _downed = [];

    /// <summary>Creates the actor; use <see cref="Props"/>.</summary>
    public LearnerDowningActor(TimeSpan stableAfter)
    {
        _stableAfter = stableAfter;
        Receive<ClusterEvent.UnreachableMember>(m => _unreachable.TryAdd(m.Member.UniqueAddress, (m.Member, DateTime.UtcNow)));
        Receive<ClusterEvent.ReachableMember>(m => _unreachable.Remove(m.Member.UniqueAddress));
        Receive<ClusterEvent.MemberRemoved>(m =>
        {
            _unreachable.Remove(m.Member.UniqueAddress);
            _downed.Remove(m.Member.UniqueAddress);
        });
        // Keep an unreachable member's status current (e.g. downed by itself), so a member already down is not downed again.
        Receive<ClusterEvent.IMemberEvent>(m =>
        {
            if (_unreachable.TryGetValue(m.Member.UniqueAddress, out var u)) _unreachable[m.Member.UniqueAddress] = (m.Member, u.Since);
        });
        Receive<ClusterEvent.CurrentClusterState>(_ => { });
        Receive<Tick>(_ => Decide(DateTime.UtcNow));
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props of the downing actor; <see cref="LearnerDowningProvider"/> gives them to the cluster.</summary>
    public static Props Props(TimeSpan stableAfter) => Akka.Actor.Props.Create(() => new LearnerDowningActor(stableAfter));

    /// <summary>
    /// Whom one node downs now: on the learner node (<paramref name="authority"/>) every member but itself unreachable
    /// for at least <paramref name="stableAfter"/> and not yet down; elsewhere itself when a learner node has been
    /// unreachable that long; else nobody.
    /// </summary>
    public static ImmutableArray<Address> ToDown(bool authority, Address self, IEnumerable<UnreachableNode> unreachable, DateTime now, TimeSpan stableAfter)
    {
        var stable = unreachable.Where(u => now - u.Since >= stableAfter && !u.Address.Equals(self)).ToList();
        if (authority) return [.. stable.Where(u => !u.IsDown).Select(u => u.Address)];
        return stable.Any(u => u.IsLearner) ? [self] : [];
    }

    /// <inheritdoc />
    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.IMemberEvent));
        var every = TimeSpan.FromTicks(Math.Clamp(_stableAfter.Ticks / 4, TimeSpan.FromMilliseconds(100).Ticks, TimeSpan.FromSeconds(1).Ticks));
        Timers.StartPeriodicTimer("tick", Tick.Instance, every);
    }

    /// <inheritdoc />
    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void Decide(DateTime now)
    {
        var authority = _cluster.SelfRoles.Contains(RoRecompHostingExtensions.LearnerRole);
        var nodes = _unreachable.Values.Select(u => new UnreachableNode(u.Member.Address, u.Member.HasRole(RoRecompHostingExtensions.LearnerRole),
            u.Member.Status == MemberStatus.Down, u.Since));
        foreach (var address in ToDown(authority, _cluster.SelfAddress, nodes, now, _stableAfter))
        {
            if (authority)
            {
                var (member, since) = _unreachable.Values.First(u => u.Member.Address.Equals(address));
                if (!_downed.Add(member.UniqueAddress)) continue;
                _log.Warning("downing {0} (roles {1}): unreachable for {2} s (stable-after {3} s; the learner node decides)",
                    address, string.Join(",", member.Roles), Seconds(now - since), _stableAfter.TotalSeconds);
            }
            else
            {
                if (!_downed.Add(_cluster.SelfUniqueAddress)) continue;
                var (learner, since) = _unreachable.Values.Where(u => u.Member.HasRole(RoRecompHostingExtensions.LearnerRole)).MinBy(u => u.Since);
                _log.Warning("the learner node {0} is unreachable for {1} s (stable-after {2} s): this node downs itself and rejoins",
                    learner.Address, Seconds(now - since), _stableAfter.TotalSeconds);
            }
            _cluster.Down(address);
        }
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture);

    /// <summary>An unreachable member as <see cref="ToDown"/> sees it.</summary>
    /// <param name="Address">The member's address.</param>
    /// <param name="IsLearner">It has the learner role.</param>
    /// <param name="IsDown">It is already marked down.</param>
    /// <param name="Since">When it became unreachable (UTC).</param>
    public sealed record UnreachableNode(Address Address, bool IsLearner, bool IsDown, DateTime Since);

    private sealed class Tick
    {
        public static readonly Tick Instance = new();
    }
}
