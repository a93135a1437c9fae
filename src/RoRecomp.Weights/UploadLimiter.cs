using System.Diagnostics;

namespace RoRecomp.Weights;

/// <summary>
/// Paces a server's sends to a byte rate shared by all its connections (a node's uplink), as a token bucket that holds
/// at most <see cref="BurstSeconds"/> of sending. Only `bench weights --link-mb-per-s` (through
/// <see cref="WeightServerOptions.UploadBytesPerSecond"/>) turns it on, to emulate a cluster's network on one machine.
/// </summary>
internal sealed class UploadLimiter(long bytesPerSecond)
{
    private const double BurstSeconds = 0.05; // enough to ride out a timer that fires late on a loaded machine
    private readonly Lock _gate = new();
    private readonly long _start = Stopwatch.GetTimestamp();
    private double _next; // seconds since _start at which the link is free again

    /// <summary>Waits until <paramref name="bytes"/> may go out at the link's rate.</summary>
    public async ValueTask AcquireAsync(int bytes, CancellationToken cancellationToken)
    {
        double wait;
        lock (_gate)
        {
            var now = Stopwatch.GetElapsedTime(_start).TotalSeconds;
            _next = Math.Max(_next, now - BurstSeconds) + (double)bytes / bytesPerSecond;
            wait = _next - now; // an idle link starts BurstSeconds behind: that much goes out at once, no more
        }
        if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait), cancellationToken).ConfigureAwait(false);
    }
}
