using System.Runtime.InteropServices;

namespace RoRecomp.Cli.Commands;

/// <summary>
/// Turns Ctrl+C and SIGTERM (Kubernetes, systemd) into a cancellation, so a long command stops gracefully (the node
/// leaves its cluster, checkpoints stay consistent) instead of being killed. Dispose to unregister.
/// </summary>
public sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly PosixSignalRegistration _sigterm;
    private readonly ConsoleCancelEventHandler _ctrlC;

    /// <param name="message">Printed to stderr when a signal arrives (with the signal's name), or null for none.</param>
    public StopSignals(string? message)
    {
        _ctrlC = (_, e) =>
        {
            e.Cancel = true;
            Stop("Ctrl+C", message);
        };
        Console.CancelKeyPress += _ctrlC;
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            Stop("SIGTERM", message);
        });
    }

    /// <summary>Cancelled when a stop signal arrived.</summary>
    public CancellationToken Token => _cts.Token;

    /// <inheritdoc />
    public void Dispose()
    {
        Console.CancelKeyPress -= _ctrlC;
        _sigterm.Dispose();
        _cts.Dispose();
    }

    private void Stop(string signal, string? message)
    {
        if (message is not null) Console.Error.WriteLine($"\n{message.Replace("{signal}", signal, StringComparison.Ordinal)}");
        _cts.Cancel();
    }
}
