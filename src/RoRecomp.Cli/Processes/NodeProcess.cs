using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace RoRecomp.Cli.Processes;

/// <summary>
/// A <c>rorecomp</c> process (<c>dotnet rorecomp.dll ...</c>, the CLI built beside this assembly, started directly so
/// that its PID is the program's own and a signal reaches it, not a <c>dotnet run</c> wrapper) with its output captured
/// (in memory, and appended to a log file when one is given) and killed on dispose. Children get
/// <c>OMP_WAIT_POLICY=PASSIVE</c> (libtorch's threads do not spin on a shared machine). Used by the chaos harness, by
/// <c>compare --parallel</c> (each run a child <c>rorecomp train</c>) and by the cluster tests.
/// </summary>
public sealed class NodeProcess : IDisposable
{
    private const int SigKill = 9, SigTerm = 15, SigCont = 18, SigStop = 19;
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly StreamWriter? _log;

    private NodeProcess(string name, IEnumerable<string> args, string? logFile, string? netns)
    {
        Name = name;
        // `ip netns exec NS cmd` enters the namespace and execs cmd in its own process: the PID stays the program's.
        var psi = new ProcessStartInfo(netns is null ? "dotnet" : "ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (netns is not null)
        {
            foreach (var a in new[] { "netns", "exec", netns, "dotnet" }) psi.ArgumentList.Add(a);
        }
        psi.ArgumentList.Add(CliPath);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        if (logFile is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(logFile))!);
            _log = new StreamWriter(logFile, append: true) { AutoFlush = true };
            _log.WriteLine($"# {DateTime.UtcNow:O} {psi.FileName} {string.Join(' ', psi.ArgumentList)}");
        }
        _process = Process.Start(psi)!;
        Pid = _process.Id;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>The CLI this assembly is (<c>rorecomp.dll</c>), which every node process runs.</summary>
    public static string CliPath => typeof(NodeProcess).Assembly.Location;

    /// <summary>The name it was started with (for logs and messages).</summary>
    public string Name { get; }

    /// <summary>The program's process id.</summary>
    public int Pid { get; }

    /// <summary>Whether it has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Its exit code (once exited; 137 after SIGKILL).</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>What it printed so far (stdout and stderr, interleaved by line).</summary>
    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    /// <summary>
    /// Starts <c>rorecomp</c> with <paramref name="args"/>; its output also goes to <paramref name="logFile"/> when given;
    /// inside the network namespace <paramref name="netns"/> when given (<c>ip netns exec</c>, as root).
    /// </summary>
    public static NodeProcess Start(string name, IEnumerable<string> args, string? logFile = null, string? netns = null) => new(name, args, logFile, netns);

    /// <summary>A TCP port on 127.0.0.1 free at the moment of asking.</summary>
    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>`--set` pairs for the command line.</summary>
    public static IEnumerable<string> SetArgs(IEnumerable<string> sets) => sets.SelectMany(s => new[] { "--set", s });

    /// <summary>SIGKILL: no shutdown, no flush; waits until it is gone.</summary>
    public void Kill()
    {
        if (!_process.HasExited) Signal(SigKill);
        _process.WaitForExit();
    }

    /// <summary>SIGTERM: asks it to stop gracefully (a node leaves its cluster).</summary>
    public void Terminate() => Signal(SigTerm);

    /// <summary>SIGSTOP: freezes it (no heartbeats, no work) until <see cref="Continue"/>.</summary>
    public void Pause() => Signal(SigStop);

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Continue() => Signal(SigCont);

    /// <summary>Waits up to <paramref name="timeout"/> for it to exit; false when it is still running.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The last <paramref name="chars"/> characters of <see cref="Output"/>.</summary>
    public string Tail(int chars = 4000)
    {
        var s = Output;
        return s.Length > chars ? s[^chars..] : s;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            Kill();
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        lock (_output) _log?.Dispose();
    }

    private void Signal(int signal)
    {
        if (_process.HasExited) return;
        if (SysKill(Pid, signal) != 0 && !_process.HasExited)
            throw new InvalidOperationException($"kill({Pid}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            _output.AppendLine(line);
            try
            {
                _log?.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

#pragma warning disable SYSLIB1054, CA5392 // DllImport with blittable arguments only: no unsafe code needed in the CLI.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int sig);
#pragma warning restore SYSLIB1054, CA5392
}
