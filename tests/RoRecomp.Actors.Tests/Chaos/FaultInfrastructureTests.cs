using System.Diagnostics;
using System.Net.Sockets;
using RoRecomp.Cli.Chaos;

namespace RoRecomp.Actors.Tests.Chaos;

/// <summary>
/// What the chaos harness's <c>partition</c> and <c>disk</c> faults are made of, as root: network namespaces whose link
/// can be cut and healed (and that are deleted afterwards), and a tmpfs run directory that a ballast fills and that keeps
/// its files once unmounted.
/// </summary>
public sealed class FaultInfrastructureTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-chaos-infra-").FullName;

    public void Dispose() => TestDirs.Delete(_dir);

    [ChaosFact(root: true)]
    public void A_cut_link_drops_a_namespaced_node_off_the_bridge_and_heal_brings_it_back()
    {
        string name;
        using (var net = NetworkNamespaces.Create(1))
        {
            name = net.Namespace(0);
            using var listener = new TcpListener(System.Net.IPAddress.Parse(net.HostAddress), 0);
            listener.Start();
            var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
            Assert.True(Eventually(() => Connects(name, net.HostAddress, port)), "a namespaced node reaches the bridge");
            net.Cut(0);
            Assert.False(Connects(name, net.HostAddress, port), "a cut node must not reach the bridge");
            net.Heal(0);
            Assert.True(Eventually(() => Connects(name, net.HostAddress, port)), "a healed node reaches the bridge again");
            Assert.True(File.Exists($"/run/netns/{name}"));
        }
        Assert.False(File.Exists($"/run/netns/{name}"), "the namespace is deleted on dispose");
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries("/sys/class/net").Select(Path.GetFileName), l => l!.StartsWith(name[..^2], StringComparison.Ordinal));
    }

    [ChaosFact(root: true)]
    public void A_filled_tmpfs_refuses_writes_until_the_ballast_is_deleted_and_keeps_its_files_when_unmounted()
    {
        var runDir = Path.Combine(_dir, "run");
        using (var disk = TmpfsRunDir.Mount(runDir))
        {
            File.WriteAllText(Path.Combine(runDir, "metrics.jsonl"), "{\"step\":1}\n");
            var ballast = disk.Fill();
            Assert.InRange(ballast, (TmpfsRunDir.SizeMiB - 2L) << 20, (long)TmpfsRunDir.SizeMiB << 20);
            // A write past the file's last allocated page fails (what fits into that page is written: a torn line).
            Assert.Throws<IOException>(() => File.AppendAllText(Path.Combine(runDir, "metrics.jsonl"), new string('x', 8192)));
            Assert.Throws<IOException>(() => File.WriteAllBytes(Path.Combine(runDir, "checkpoint.tmp"), new byte[8192]));
            disk.Free();
            Assert.True(disk.FreeBytes > (TmpfsRunDir.SizeMiB - 2L) << 20);
            File.AppendAllText(Path.Combine(runDir, "metrics.jsonl"), "\n{\"step\":2}\n");
            Assert.Contains(runDir, File.ReadAllText("/proc/mounts"));
        }
        Assert.DoesNotContain(runDir, File.ReadAllText("/proc/mounts"));
        var lines = File.ReadAllLines(Path.Combine(runDir, "metrics.jsonl"));
        Assert.Equal(("{\"step\":1}", "{\"step\":2}"), (lines[0], lines[^1]));
        Assert.False(File.Exists(Path.Combine(runDir, "chaos-disk-ballast")));
    }

    /// <summary>Whether a TCP connection from inside namespace <paramref name="ns"/> reaches <paramref name="host"/>:<paramref name="port"/> within 2 s.</summary>
    // A veth link comes up asynchronously (carrier, bridge port forwarding): on a loaded machine one 2 s try failed once
    // (2026-12-01, three training runs beside the test suite on 2 cores), so a link that should work gets 20 s.
    private static bool Eventually(Func<bool> connects)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!connects())
        {
            if (DateTime.UtcNow > deadline) return false;
            Thread.Sleep(200);
        }
        return true;
    }

    private static bool Connects(string ns, string host, int port)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "netns", "exec", ns, "timeout", "2", "bash", "-c", $"echo > /dev/tcp/{host}/{port}" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        return p.ExitCode == 0;
    }
}
