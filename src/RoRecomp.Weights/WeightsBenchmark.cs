using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace RoRecomp.Weights;

/// <summary>Measured figures of <see cref="WeightsBenchmark.Run"/>; rates in GB/s are 10^9 bytes per second.</summary>
/// <param name="BlobBytes">Size of the published blob.</param>
/// <param name="ChunkBytes">Bytes per chunk on the wire.</param>
/// <param name="Checksum">What the client verified.</param>
/// <param name="PublishSeconds">Time of <see cref="WeightServer.Publish"/> (chunk checksums and SHA-256 of the blob).</param>
/// <param name="FetchSeconds">Wall time of each fetch, in order (connect to verified blob in hand).</param>
public sealed record WeightsBenchmarkResult(long BlobBytes, int ChunkBytes, string Checksum, double PublishSeconds, IReadOnlyList<double> FetchSeconds)
{
    /// <summary>GB/s of each fetch, in order.</summary>
    public IReadOnlyList<double> GbPerSecond => [.. FetchSeconds.Select(s => BlobBytes / s / 1e9)];

    /// <summary>The fastest fetch, GB/s.</summary>
    public double BestGbPerSecond => GbPerSecond.Max();

    /// <summary>The median fetch (the mean of the middle two for an even count), GB/s.</summary>
    public double MedianGbPerSecond
    {
        get
        {
            var sorted = GbPerSecond.Order().ToList();
            return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
        }
    }
}

/// <summary>
/// Weight-transfer benchmark (DESIGN.md §4: >= 1 GB/s learner to sampler over loopback): publishes a blob of random
/// bytes on a <see cref="WeightServer"/> at 127.0.0.1 and fetches it with a <see cref="WeightClient"/>, checking each
/// fetched blob byte for byte (outside the timing).
/// </summary>
public static class WeightsBenchmark
{
    /// <summary>Runs <paramref name="repeat"/> fetches of a <paramref name="blobBytes"/> blob (blocks until done).</summary>
    public static WeightsBenchmarkResult Run(
        long blobBytes, int repeat, WeightServerOptions? serverOptions = null, WeightClientOptions? clientOptions = null, Action<string>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repeat, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(blobBytes, Array.MaxLength);
        var blob = GC.AllocateUninitializedArray<byte>((int)blobBytes);
        new Random(1).NextBytes(blob);
        using var server = new WeightServer(serverOptions);
        var client = new WeightClient((clientOptions ?? new WeightClientOptions()) with { Credential = server.Credential });

        var sw = Stopwatch.StartNew();
        var published = server.Publish(1, blob);
        var publishSeconds = sw.Elapsed.TotalSeconds;
        progress?.Invoke($"published {blobBytes / 1e6:N0} MB in {publishSeconds:N2} s at {server.EndPoint}");

        var seconds = new List<double>();
        for (var i = 0; i < repeat; i++)
        {
            GC.Collect(); // the previous fetch's blob is garbage: free it, as a sampler's is once it has loaded the weights
            seconds.Add(TimedFetch(client, server, published, blob));
            progress?.Invoke($"fetch {i + 1}/{repeat}: {seconds[^1]:N3} s, {blobBytes / seconds[^1] / 1e9:N2} GB/s");
        }
        var checksum = client.Options.VerifySha256 ? "xxh3-64 per chunk, sha256 of the blob" : "xxh3-64 per chunk";
        return new WeightsBenchmarkResult(blobBytes, server.ChunkBytes, checksum, publishSeconds, seconds);
    }

    /// <summary>
    /// One fetch, its seconds. Synchronous and not inlined on purpose: an async caller's unoptimised (tier-0) frame would
    /// keep the finished fetch task, and with it the fetched blob, alive across the next fetch.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static double TimedFetch(WeightClient client, WeightServer server, PublishedWeights published, byte[] blob)
    {
        var sw = Stopwatch.StartNew();
        var fetched = client.FetchAsync(server.EndPoint, published.Version).GetAwaiter().GetResult();
        var seconds = sw.Elapsed.TotalSeconds;
        if (fetched.Sha256 != published.Sha256 || !fetched.Bytes.AsSpan().SequenceEqual(blob))
            throw new InvalidOperationException($"version {published.Version} came back with different bytes");
        return seconds;
    }
}
