using System.Diagnostics;

namespace RoRecomp.Cli.Chaos;

/// <summary>Runs a host tool the chaos harness needs (<c>pg_ctl</c>, <c>ip</c>, <c>mount</c>) and fails with its output when it fails.</summary>
public static class HostCommand
{
    /// <summary>Whether this process runs as root (network namespaces and tmpfs mounts need it).</summary>
    public static bool IsRoot => Environment.UserName == "root";

    /// <summary>Runs <paramref name="file"/> with <paramref name="args"/>; throws <see cref="InvalidOperationException"/> with its stderr when it exits non-zero or runs over 120 s.</summary>
    public static void Run(string file, IReadOnlyList<string> args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            p.Kill();
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} did not finish in 120 s");
        }
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed (exit {p.ExitCode}): {stderr.Result.Trim()} {stdout.Result.Trim()}");
    }

    /// <summary><see cref="Run"/>, but a failure is returned as its message instead of thrown (for clean-up).</summary>
    public static string? TryRun(string file, IReadOnlyList<string> args)
    {
        try
        {
            Run(file, args);
            return null;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return e.Message;
        }
    }
}
