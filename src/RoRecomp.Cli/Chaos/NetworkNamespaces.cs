using System.Globalization;

namespace RoRecomp.Cli.Chaos;

/// <summary>
/// The network the chaos harness builds for <c>partition</c> faults (as root): a Linux bridge in the root namespace with
/// the address <see cref="HostAddress"/> (the learner side binds there), and one network namespace per worker node, joined
/// to the bridge by a veth pair, with the address <see cref="NodeAddress"/>. <see cref="Cut"/> sets the root side of a
/// node's veth link down: every packet to and from that node is dropped (TCP connections hang, as on a real partition,
/// rather than being reset); <see cref="Heal"/> sets it up again. Names carry this process's id (<c>rrc&lt;pid&gt;...</c>) so
/// that two harnesses never share them; <see cref="Dispose"/> deletes everything it made (also after a failure or
/// Ctrl+C: the harness disposes it in a <c>finally</c>, and the process-exit hook does it too), and <see cref="Create"/>
/// first deletes what a harness killed by SIGKILL left behind (names of processes no longer alive).
/// </summary>
public sealed class NetworkNamespaces : IDisposable
{
    private const string Prefix = "rrc";
    private readonly string _tag;
    private readonly int _subnet;
    private readonly List<string> _namespaces = [];
    private bool _bridge;
    private int _disposed;

    private NetworkNamespaces(int nodes)
    {
        var pid = Environment.ProcessId;
        _tag = Prefix + pid.ToString(CultureInfo.InvariantCulture);
        if (_tag.Length > 11) throw new InvalidOperationException($"process id {pid} too long for interface names");
        _subnet = 20 + pid % 200;
        Nodes = nodes;
    }

    /// <summary>The bridge's address (root namespace): the learner side binds its remoting and weight server there.</summary>
    public string HostAddress => $"10.213.{_subnet.ToString(CultureInfo.InvariantCulture)}.1";

    /// <summary>How many node namespaces there are.</summary>
    public int Nodes { get; }

    /// <summary>Builds the bridge and <paramref name="nodes"/> namespaces; throws <see cref="InvalidOperationException"/> when not root or when <c>ip</c> fails (what was made is deleted).</summary>
    public static NetworkNamespaces Create(int nodes)
    {
        if (!HostCommand.IsRoot) throw new InvalidOperationException("network namespaces need root");
        RemoveStale();
        var net = new NetworkNamespaces(nodes);
        AppDomain.CurrentDomain.ProcessExit += net.OnExit;
        try
        {
            net.Build();
            return net;
        }
        catch
        {
            net.Dispose();
            throw;
        }
    }

    /// <summary>Node <paramref name="i"/>'s (0-based) namespace name (<c>ip netns exec</c> runs a process in it).</summary>
    public string Namespace(int i) => $"{_tag}n{i.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Node <paramref name="i"/>'s address inside its namespace.</summary>
    public string NodeAddress(int i) => $"10.213.{_subnet.ToString(CultureInfo.InvariantCulture)}.{(i + 2).ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Partitions node <paramref name="i"/> off: the root side of its veth link down.</summary>
    public void Cut(int i) => HostCommand.Run("ip", ["link", "set", HostLink(i), "down"]);

    /// <summary>Heals <see cref="Cut"/>: the link up again (the bridge has STP off, so it forwards at once).</summary>
    public void Heal(int i) => HostCommand.Run("ip", ["link", "set", HostLink(i), "up"]);

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        AppDomain.CurrentDomain.ProcessExit -= OnExit;
        foreach (var ns in _namespaces) HostCommand.TryRun("ip", ["netns", "delete", ns]);   // deletes its veth pair too
        if (_bridge) HostCommand.TryRun("ip", ["link", "delete", Bridge]);
    }

    private string Bridge => _tag + "br";

    private string HostLink(int i) => $"{_tag}h{i.ToString(CultureInfo.InvariantCulture)}";

    private void OnExit(object? sender, EventArgs e) => Dispose();

    private void Build()
    {
        HostCommand.Run("ip", ["link", "add", Bridge, "type", "bridge"]);
        _bridge = true;
        HostCommand.Run("ip", ["addr", "add", HostAddress + "/24", "dev", Bridge]);
        HostCommand.Run("ip", ["link", "set", Bridge, "up"]);
        for (var i = 0; i < Nodes; i++)
        {
            var ns = Namespace(i);
            var peer = $"{_tag}p{i.ToString(CultureInfo.InvariantCulture)}";
            HostCommand.Run("ip", ["netns", "add", ns]);
            _namespaces.Add(ns);
            HostCommand.Run("ip", ["link", "add", HostLink(i), "type", "veth", "peer", "name", peer]);
            HostCommand.Run("ip", ["link", "set", peer, "netns", ns]);
            HostCommand.Run("ip", ["link", "set", HostLink(i), "master", Bridge]);
            HostCommand.Run("ip", ["link", "set", HostLink(i), "up"]);
            HostCommand.Run("ip", ["-n", ns, "addr", "add", NodeAddress(i) + "/24", "dev", peer]);
            HostCommand.Run("ip", ["-n", ns, "link", "set", peer, "up"]);
            HostCommand.Run("ip", ["-n", ns, "link", "set", "lo", "up"]);
        }
    }

    /// <summary>Deletes namespaces and bridges named <c>rrc&lt;pid&gt;...</c> whose process is gone (a harness killed by SIGKILL).</summary>
    private static void RemoveStale()
    {
        static int? PidOf(string name)
        {
            if (!name.StartsWith(Prefix, StringComparison.Ordinal)) return null;
            var digits = new string([.. name[Prefix.Length..].TakeWhile(char.IsAsciiDigit)]);
            return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && digits.Length + Prefix.Length + 1 < name.Length ? p : null;
        }
        static bool Dead(int pid) => pid != Environment.ProcessId && !Directory.Exists($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}");
        if (Directory.Exists("/run/netns"))
        {
            foreach (var ns in Directory.EnumerateFiles("/run/netns").Select(Path.GetFileName))
            {
                if (PidOf(ns!) is { } p && Dead(p)) HostCommand.TryRun("ip", ["netns", "delete", ns!]);
            }
        }
        foreach (var link in Directory.EnumerateFileSystemEntries("/sys/class/net").Select(Path.GetFileName))
        {
            if (link!.EndsWith("br", StringComparison.Ordinal) && PidOf(link) is { } p && Dead(p)) HostCommand.TryRun("ip", ["link", "delete", link]);
        }
    }
}
