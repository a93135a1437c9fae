using System.Diagnostics;
using System.Net;
using System.Runtime.CompilerServices;

namespace RoRecomp.Weights;

/// <summary>Measured figures of <see cref="WeightsBenchmark.Run"/>; rates in GB/s are 10^9 bytes per second.</summary>
/// <param name="BlobBytes">Size of the published blob.</param>
/// <param name="ChunkBytes">Bytes per chunk on the wire.</param>
/// <param name="Checksum">What the client verified.</param>
/// <param name="PublishSeconds">Time of <see cref="WeightServer.Publish"/> (the chunk hashes and the manifest digest).</param>
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

/// <summary>Measured figures of <see cref="WeightsBenchmark.RunFanOut"/>.</summary>
/// <param name="BlobBytes">Size of the published blob.</param>
/// <param name="Fetchers">Fetcher nodes that each got the version.</param>
/// <param name="FanOut">The relay tree's fan-out (0 = every fetcher from the learner).</param>
/// <param name="LinkBytesPerSecond">Upload cap of every node (learner and fetchers).</param>
/// <param name="SingleFetchSeconds">One fetcher alone fetching from the capped learner.</param>
/// <param name="AllFetchSeconds">From the start of all fetches until the last fetcher holds the verified version.</param>
/// <param name="LearnerBytesUploaded">Blob bytes the learner's server sent while the fetchers fetched together.</param>
/// <param name="FetcherSeconds">Each fetcher's own fetch time, by fetcher index.</param>
/// <param name="AllFetchCpuSeconds">CPU time this process used while all fetched: above cores x <paramref name="AllFetchSeconds"/>
/// the emulation was bound by this machine's cores (hashing and copying every node's bytes), not by the capped links.</param>
public sealed record WeightsFanOutResult(
    long BlobBytes, int Fetchers, int FanOut, long LinkBytesPerSecond, double SingleFetchSeconds, double AllFetchSeconds, long LearnerBytesUploaded,
    IReadOnlyList<double> FetcherSeconds, double AllFetchCpuSeconds)
{
    /// <summary>Learner upload per version, in copies of the blob (target &lt;= 2).</summary>
    public double LearnerUploadCopies => (double)LearnerBytesUploaded / BlobBytes;

    /// <summary>Time until all fetchers hold the version over the time of one fetch (target &lt;= 1.5).</summary>
    public double AllFetchRatio => AllFetchSeconds / SingleFetchSeconds;
}

/// <summary>
/// Weight-transfer benchmarks over loopback: <see cref="Run"/> times one verified fetch at a time (DESIGN.md §4);
/// <see cref="RunFanOut"/> emulates a cluster's network (every node's upload capped) and times N fetchers that get one
/// version through the relay tree. Fetched blobs are checked byte for byte outside the timing.
/// </summary>
public static class WeightsBenchmark
{
    /// <summary>Runs <paramref name="repeat"/> fetches of a <paramref name="blobBytes"/> blob (blocks until done).</summary>
    public static WeightsBenchmarkResult Run(
        long blobBytes, int repeat, WeightServerOptions? serverOptions = null, WeightClientOptions? clientOptions = null, Action<string>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repeat, 1);
        var blob = RandomBlob(blobBytes);
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
        return new WeightsBenchmarkResult(blobBytes, server.ChunkBytes, "sha256 per chunk (manifest digest), verified in parallel", publishSeconds, seconds);
    }

    /// <summary>
    /// Emulates <paramref name="fetchers"/> sampler nodes and a learner on one machine, every node's upload capped at
    /// <paramref name="linkBytesPerSecond"/> (the learner's link is the bottleneck, as between machines): first one
    /// fetcher alone fetches version 1 from the learner; then all fetch version 2 at once, each through its relay-tree
    /// sources (<see cref="RelayTree"/>) and serving what it holds on its own capped relay server. Blocks until done.
    /// </summary>
    public static WeightsFanOutResult RunFanOut(
        long blobBytes, int fetchers, int fanOut, long linkBytesPerSecond, int chunkBytes, Action<string>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(fetchers, 1);
        var blob = RandomBlob(blobBytes);
        var credential = System.Security.Cryptography.RandomNumberGenerator.GetBytes(WeightWire.CredentialBytes); // the run's, as in the cluster
        WeightServerOptions Capped(int keep, TimeSpan await) => new()
        {
            Credential = credential,
            ChunkBytes = chunkBytes,
            UploadBytesPerSecond = linkBytesPerSecond,
            KeepVersions = keep,
            AwaitVersion = await,
        };
        using var learner = new WeightServer(Capped(1, TimeSpan.Zero));
        var client = new WeightClient(new WeightClientOptions { Credential = credential });

        var v1 = learner.Publish(1, blob);
        var single = Stopwatch.StartNew();
        Check(client.FetchAsync(learner.EndPoint, 1).GetAwaiter().GetResult(), v1, blob);
        var singleSeconds = single.Elapsed.TotalSeconds;
        progress?.Invoke($"one fetch from the learner: {singleSeconds:N2} s ({blobBytes / singleSeconds / 1e6:N0} MB/s at a {linkBytesPerSecond / 1e6:N0} MB/s cap)");
        GC.Collect();

        var v2 = learner.Publish(2, blob);
        var relays = Enumerable.Range(0, fetchers).Select(_ => new WeightServer(Capped(1, TimeSpan.FromSeconds(10)))).ToList();
        try
        {
            var uploadedBefore = learner.BlobBytesSent;
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var all = Stopwatch.StartNew();
            var fetches = Enumerable.Range(0, fetchers).Select(i => Task.Run(async () =>
            {
                var sw = Stopwatch.StartNew();
                var sources = RelayTree.Sources(i, fanOut).Select(EndPoint (k) => relays[k].EndPoint).Append(learner.EndPoint).ToList();
                var fetched = await client.FetchAsync(sources, 2, v2.Digest, relays[i]).ConfigureAwait(false);
                return (Fetched: fetched, Seconds: sw.Elapsed.TotalSeconds);
            })).ToArray();
            var results = Task.WhenAll(fetches).GetAwaiter().GetResult();
            var allSeconds = all.Elapsed.TotalSeconds;
            var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
            var uploaded = learner.BlobBytesSent - uploadedBefore;
            progress?.Invoke($"{fetchers} fetchers, fan-out {fanOut}: all hold the version after {allSeconds:N2} s; the learner uploaded {uploaded / (double)blobBytes:N2} copies");
            foreach (var r in results) Check(r.Fetched, v2, blob);
            return new WeightsFanOutResult(blobBytes, fetchers, fanOut, linkBytesPerSecond, singleSeconds, allSeconds, uploaded, [.. results.Select(r => r.Seconds)], cpuSeconds);
        }
        finally
        {
            foreach (var relay in relays) relay.Dispose();
        }
    }

    private static byte[] RandomBlob(long blobBytes)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(blobBytes, Array.MaxLength);
        var blob = GC.AllocateUninitializedArray<byte>((int)blobBytes);
        new Random(1).NextBytes(blob);
        return blob;
    }

    private static void Check(WeightBlob fetched, PublishedWeights published, byte[] blob)
    {
        if (fetched.Digest != published.Digest || !fetched.Bytes.AsSpan().SequenceEqual(blob))
            throw new InvalidOperationException($"version {published.Version} came back with different bytes");
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
        Check(fetched, published, blob);
        return seconds;
    }
}
