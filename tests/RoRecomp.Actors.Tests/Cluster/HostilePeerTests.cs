using RoRecomp.Cli.Processes;
using System.Globalization;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using System.Net;
using System.Net.Sockets;
using RoRecomp.Actors.Runners;
using RoRecomp.Actors.Tests.Pipeline;
using RoRecomp.Training.Runs;

namespace RoRecomp.Actors.Tests.Cluster;

/// <summary>
/// Bad input and hostile peers against a real learner node (`train --cluster`) on 127.0.0.1 (issue 14): garbage on its
/// Akka.Remote and weight ports, a node with another run's configuration, nodes that name another cluster, and nodes
/// that must notice the run ended. Every listening socket of the learner must be on the loopback by default.
/// </summary>
public sealed class HostilePeerTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(4);
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-hostile-").FullName;
    private readonly List<NodeProcess> _processes = [];

    public void Dispose()
    {
        foreach (var p in _processes) p.Dispose();
        TestDirs.Delete(_dir);
    }

    private NodeProcess Start(string name, params IEnumerable<string>[] args)
    {
        var p = NodeProcess.Start(name, args.SelectMany(a => a));
        _processes.Add(p);
        return p;
    }

    [Fact]
    public async Task Garbage_intruders_and_another_runs_node_are_refused_and_the_run_finishes_and_its_nodes_exit()
    {
        const int steps = 8;
        var warm = PipelineFixture.WarmStart(Path.Combine(_dir, "warm"));
        var run = Path.Combine(_dir, "run");
        var sets = PipelineFixture.Sets(run, warm, "run.eval-every=0", "cluster.stable-after=2", "run.lease-timeout=30");
        var port = NodeProcess.FreePort();
        var seed = TrainRunner.SeedAddress("127.0.0.1", port);
        // No --hostname anywhere: the defaults must keep every socket on the loopback.
        var learner = Start("learner", ["train", "--cluster", "--port", $"{port}", "--steps", $"{steps}"], NodeProcess.SetArgs(sets));
        await ClusterTests.Until(() => CanConnect(port), "the learner listens", learner);

        // Garbage at the Akka.Remote port, before any sampler: random bytes, an HTTP request, a connection closed at once.
        var rng = new Random(5);
        for (var i = 0; i < 8; i++)
        {
            var bytes = new byte[rng.Next(1, 8192)];
            rng.NextBytes(bytes);
            await SendAndCloseAsync(port, bytes);
        }
        await SendAndCloseAsync(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        await SendAndCloseAsync(port, []);

        var other = Start("other-run", ["node", "--roles", "sampler", "--seed", seed], NodeProcess.SetArgs([.. sets, "sampling.temperature=0.7"]));
        var intruder = Start("other-cluster", ["node", "--roles", "verifier", "--seed", $"akka.tcp://other@127.0.0.1:{port}"], NodeProcess.SetArgs(sets));
        // A foreign actor system (another cluster's name) that tries to join the learner's cluster.
        using var foreign = ActorSystem.Create("other", ConfigurationFactory.ParseString(
            "akka.actor.provider = cluster\nakka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }\nakka.loglevel = WARNING"));
        global::Akka.Cluster.Cluster.Get(foreign).Join(Address.Parse(seed));
        var sampler = Start("sampler", ["node", "--roles", "sampler,verifier", "--seed", seed], NodeProcess.SetArgs(sets));

        // A node of another run is refused by name of the keys that differ, on both sides, and exits 1.
        Assert.True(await other.WaitForExitAsync(Patience), "the node with another run's configuration did not exit\n" + ClusterTests.Tail(other.Output));
        Assert.True(other.ExitCode == 1, $"exit code {other.ExitCode}\n{ClusterTests.Tail(other.Output)}");
        Assert.Contains("sampling.temperature: node 0.7, learner 1", other.Output);
        Assert.Contains("refused sampler", learner.Output);

        // `node` refuses at once to name another cluster in its seed, saying which name it expects.
        Assert.True(await intruder.WaitForExitAsync(Patience), "the node naming another cluster did not exit\n" + ClusterTests.Tail(intruder.Output));
        Assert.True(intruder.ExitCode == 2, $"exit code {intruder.ExitCode}\n{ClusterTests.Tail(intruder.Output)}");
        Assert.Contains("expected akka.tcp://rorecomp@host:port", intruder.Output);

        // Every socket the learner listens on is on the loopback, the weight server's included (up once a sampler fetched).
        await ClusterTests.Until(() => sampler.Output.Contains("fetched from 127.0.0.1:", StringComparison.Ordinal), "the sampler fetched weights", learner, sampler);
        var listening = ListeningSockets(learner.Pid);
        Assert.Contains(listening, e => e.Port == port);
        Assert.True(listening.Count >= 2, "expected the Akka.Remote and the weight server's ports: " + string.Join(", ", listening));
        Assert.All(listening, e => Assert.True(IPAddress.IsLoopback(e.Address), $"{e} is not a loopback address"));

        // Garbage at the weight server's port: refused and logged; the run goes on.
        var weightsPort = listening.First(e => e.Port != port).Port;
        for (var i = 0; i < 4; i++)
        {
            var bytes = new byte[rng.Next(6, 2048)];
            rng.NextBytes(bytes);
            await SendAndCloseAsync(weightsPort, bytes);
        }

        Assert.True(await learner.WaitForExitAsync(Patience), "the run did not finish\n" + ClusterTests.Tail(learner.Output) + "\n--- sampler:\n" + ClusterTests.Tail(sampler.Output));
        Assert.True(learner.ExitCode == 0, $"exit code {learner.ExitCode}\n{ClusterTests.Tail(learner.Output)}");
        Assert.Equal(steps, File.ReadAllLines(Path.Combine(run, RunFiles.MetricsFile)).Length);
        Assert.Contains("weight server", learner.Output);
        Assert.Contains("refused a request from 127.0.0.1:", learner.Output);
        Assert.NotEqual(MemberStatus.Up, global::Akka.Cluster.Cluster.Get(foreign).SelfMember.Status);   // never let in

        // The sampler node notices the run finished and exits 0 instead of waiting for a learner forever.
        Assert.True(await sampler.WaitForExitAsync(TimeSpan.FromMinutes(1)), "the sampler node did not exit after the run finished\n" + ClusterTests.Tail(sampler.Output));
        Assert.True(sampler.ExitCode == 0, $"exit code {sampler.ExitCode}\n{ClusterTests.Tail(sampler.Output)}");
        Assert.Contains($"the learner finished the run ({steps} of {steps} steps); nothing more to do, exiting", sampler.Output);
    }

    [Fact]
    public async Task A_node_whose_seed_never_answers_says_what_it_waits_for_and_gives_up()
    {
        var port = NodeProcess.FreePort();   // nothing listens there
        var node = Start("node", ["node", "--roles", "verifier", "--seed", TrainRunner.SeedAddress("127.0.0.1", port)],
            NodeProcess.SetArgs([$"run.run-dir={Path.Combine(_dir, "run")}", "cluster.join-timeout=14"]));

        Assert.True(await node.WaitForExitAsync(TimeSpan.FromMinutes(3)), "the node did not give up\n" + ClusterTests.Tail(node.Output));

        Assert.Equal(1, node.ExitCode);
        Assert.Contains($"node: waiting to join akka.tcp://rorecomp@127.0.0.1:{port}: no answer for 1", node.Output);
        Assert.Contains("giving up after 14 s", node.Output);
        Assert.Contains($"node: gave up: could not join akka.tcp://rorecomp@127.0.0.1:{port} within 14 s (rorecomp.cluster.join-timeout", node.Output);
    }

    private static bool CanConnect(int port)
    {
        try
        {
            using var c = new TcpClient();
            c.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static async Task SendAndCloseAsync(int port, byte[] bytes)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(IPAddress.Loopback, port);
        try
        {
            if (bytes.Length > 0) await s.SendAsync(bytes, SocketFlags.None);
            await Task.Delay(200);
        }
        catch (SocketException)
        {
            // the node dropped the connection: what it should do with garbage
        }
    }

    /// <summary>The TCP sockets <paramref name="pid"/> listens on: its socket inodes (/proc/PID/fd) matched in /proc/PID/net/tcp{,6}.</summary>
    private static List<IPEndPoint> ListeningSockets(int pid)
    {
        var inodes = new HashSet<string>();
        foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            var target = new FileInfo(fd).LinkTarget;
            if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal)) inodes.Add(target[8..^1]);
        }
        var result = new List<IPEndPoint>();
        foreach (var table in new[] { "tcp", "tcp6" })
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/net/{table}").Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f[3] != "0A" || !inodes.Contains(f[9])) continue;   // 0A = LISTEN
                var (ip, portHex) = (f[1][..f[1].IndexOf(':')], f[1][(f[1].IndexOf(':') + 1)..]);
                var raw = Convert.FromHexString(ip);
                // /proc prints each 32-bit word of the address in host (little-endian) order.
                for (var w = 0; w < raw.Length; w += 4) Array.Reverse(raw, w, 4);
                result.Add(new IPEndPoint(new IPAddress(raw), int.Parse(portHex, NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
            }
        }
        return result;
    }
}
