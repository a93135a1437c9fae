using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using RoRecomp.Weights;

namespace RoRecomp.Weights.Tests;

public sealed class WeightTransferTests
{
    private static readonly WeightClient Client = new(new WeightClientOptions { ConnectTimeout = TimeSpan.FromSeconds(5), ReadTimeout = TimeSpan.FromSeconds(5) });

    /// <summary>A client holding <paramref name="server"/>'s credential (as a cluster member told it by the learner).</summary>
    internal static WeightClient ClientOf(WeightServer server) => new(Client.Options with { Credential = server.Credential });

    internal static byte[] RandomBlob(int length, int seed)
    {
        var blob = new byte[length];
        new Random(seed).NextBytes(blob);
        return blob;
    }

    [Fact]
    public async Task A_few_megabytes_round_trip_with_equal_bytes_and_sha256()
    {
        await using var server = new WeightServer(new WeightServerOptions { ChunkBytes = 1024 * 1024 });
        var blob = RandomBlob(5 * 1024 * 1024 + 123, 1); // six chunks, the last one short
        var published = server.Publish(3, blob);

        var fetched = await ClientOf(server).FetchAsync(server.EndPoint, 3);

        Assert.Equal(3, fetched.Version);
        Assert.Equal(blob, fetched.Bytes);
        Assert.Equal(ManifestDigest(blob, published.ChunkBytes), published.Digest);
        Assert.Equal(published.Digest, fetched.Digest);
        Assert.Equal(published, server.Latest);
    }

    [Fact]
    public async Task An_empty_blob_and_a_host_name_endpoint_work()
    {
        await using var server = new WeightServer();
        server.Publish(0, []);

        var fetched = await ClientOf(server).FetchAsync(new DnsEndPoint("localhost", server.Port), 0);

        Assert.Empty(fetched.Bytes);
        Assert.Equal(ManifestDigest([], server.ChunkBytes), fetched.Digest);
    }

    [Fact]
    public async Task Minus_one_fetches_the_newest_version()
    {
        await using var server = new WeightServer();
        server.Publish(1, RandomBlob(100_000, 1));
        var newest = RandomBlob(200_000, 2);
        server.Publish(2, newest);

        var fetched = await ClientOf(server).FetchAsync(server.EndPoint, -1);

        Assert.Equal(2, fetched.Version);
        Assert.Equal(newest, fetched.Bytes);
    }

    [Fact]
    public async Task Unknown_evicted_and_unpublished_versions_fail_with_a_clear_error()
    {
        await using var server = new WeightServer(new WeightServerOptions { KeepVersions = 2 });
        var none = await Assert.ThrowsAsync<WeightTransferException>(() => ClientOf(server).FetchAsync(server.EndPoint, -1));
        Assert.Equal(WeightTransferFailure.VersionUnavailable, none.Failure);
        Assert.Contains("none is published", none.Message);

        for (var v = 1; v <= 3; v++) server.Publish(v, RandomBlob(1000, v));
        var evicted = await Assert.ThrowsAsync<WeightTransferException>(() => ClientOf(server).FetchAsync(server.EndPoint, 1));
        Assert.Equal(WeightTransferFailure.VersionUnavailable, evicted.Failure);
        Assert.Contains("version 1 ", evicted.Message);
        Assert.Contains("evicted", evicted.Message);
        Assert.Contains(server.EndPoint.ToString(), evicted.Message);

        var unknown = await Assert.ThrowsAsync<WeightTransferException>(() => ClientOf(server).FetchAsync(server.EndPoint, 9));
        Assert.Equal(WeightTransferFailure.VersionUnavailable, unknown.Failure);
        Assert.Contains("version 9 ", unknown.Message);
        Assert.Contains("the newest is 3", unknown.Message);
        Assert.Equal(2, (await ClientOf(server).FetchAsync(server.EndPoint, 2)).Version);
    }

    [Fact]
    public async Task A_chunk_corrupted_in_transit_is_detected_and_the_fetch_retried()
    {
        await using var server = new WeightServer(new WeightServerOptions { ChunkBytes = WeightServerOptions.MinChunkBytes });
        var blob = RandomBlob(10 * WeightServerOptions.MinChunkBytes, 4);
        server.Publish(1, blob);
        var corrupted = 0;
        server.CorruptChunk = i => i == 5 && Interlocked.Increment(ref corrupted) == 1; // the first attempt only

        var fetched = await ClientOf(server).FetchAsync(server.EndPoint, 1);

        Assert.Equal(2, Volatile.Read(ref corrupted)); // chunk 5 went out twice: corrupted, then intact (the retry resumes at the first unverified chunk)
        Assert.Equal(blob, fetched.Bytes);
    }

    [Fact]
    public async Task A_chunk_corrupted_on_every_attempt_fails_naming_the_chunk_version_and_endpoint()
    {
        await using var server = new WeightServer(new WeightServerOptions { ChunkBytes = WeightServerOptions.MinChunkBytes });
        server.Publish(5, RandomBlob(4 * WeightServerOptions.MinChunkBytes, 5));
        var corrupted = 0;
        server.CorruptChunk = i => i == 2 && Interlocked.Increment(ref corrupted) > 0;

        var ex = await Assert.ThrowsAsync<WeightTransferException>(() => ClientOf(server).FetchAsync(server.EndPoint, 5));

        Assert.Equal(WeightTransferFailure.ChecksumMismatch, ex.Failure);
        Assert.Equal(2, ex.ChunkIndex);
        Assert.Equal(5, ex.Version);
        Assert.Contains("chunk 2 of 4", ex.Message);
        Assert.Contains("version 5", ex.Message);
        Assert.Contains(server.EndPoint.ToString(), ex.Message);
        Assert.Contains("attempt 3 of 3", ex.Message);
        Assert.Equal(3, Volatile.Read(ref corrupted));
    }

    [Fact]
    public async Task Concurrent_clients_all_get_the_blob()
    {
        await using var server = new WeightServer();
        var blob = RandomBlob(3 * 1024 * 1024, 6);
        server.Publish(1, blob);

        var fetched = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => ClientOf(server).FetchAsync(server.EndPoint, 1))));

        Assert.All(fetched, f => Assert.Equal(blob, f.Bytes));
    }

    [Fact]
    public async Task A_server_disposed_mid_fetch_makes_the_client_fail_not_hang()
    {
        var server = new WeightServer(new WeightServerOptions { ChunkBytes = WeightServerOptions.MinChunkBytes });
        server.Publish(1, RandomBlob(256 * WeightServerOptions.MinChunkBytes, 7)); // 16 MiB: more than the socket buffers hold
        server.CorruptChunk = i =>
        {
            if (i == 8) server.Dispose();
            return false;
        };

        var fetch = ClientOf(server).FetchAsync(server.EndPoint, 1).WaitAsync(TimeSpan.FromSeconds(10));
        var ex = await Assert.ThrowsAsync<WeightTransferException>(() => fetch);

        // The connection drops mid-blob; the retry then finds nothing listening.
        Assert.Equal(WeightTransferFailure.ConnectFailed, ex.Failure);
        Assert.Contains("connection refused", ex.Message);
        await server.DisposeAsync();
    }

    [Fact]
    public async Task Connection_refused_is_a_clear_error()
    {
        var port = FreePort();

        var ex = await Assert.ThrowsAsync<WeightTransferException>(() => Client.FetchAsync(new IPEndPoint(IPAddress.Loopback, port), 1));

        Assert.Equal(WeightTransferFailure.ConnectFailed, ex.Failure);
        Assert.Contains($"127.0.0.1:{port}", ex.Message);
        Assert.Contains("connection refused", ex.Message);
    }

    [Fact]
    public async Task A_server_that_never_answers_times_out()
    {
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        silent.Listen(); // the kernel accepts the connection; nobody ever answers
        var client = new WeightClient(new WeightClientOptions { ReadTimeout = TimeSpan.FromMilliseconds(300) });

        var ex = await Assert.ThrowsAsync<WeightTransferException>(() => client.FetchAsync(silent.LocalEndPoint!, 1).WaitAsync(TimeSpan.FromSeconds(10)));

        Assert.Equal(WeightTransferFailure.Timeout, ex.Failure);
    }

    [Fact]
    public async Task A_blob_over_the_client_limit_is_refused_before_it_is_received()
    {
        await using var server = new WeightServer();
        server.Publish(1, RandomBlob(2000, 8));
        var client = new WeightClient(new WeightClientOptions { MaxBlobBytes = 1000, Credential = server.Credential });

        var ex = await Assert.ThrowsAsync<WeightTransferException>(() => client.FetchAsync(server.EndPoint, 1));

        Assert.Equal(WeightTransferFailure.TooLarge, ex.Failure);
        Assert.Contains("2,000 bytes", ex.Message);
    }

    [Theory]
    [InlineData(new byte[] { 0x47, 0x45, 0x54, 0x20, 0x2F, 0x20, 0x48, 0x54, 0x54, 0x50, 0x2F, 0x31, 0x2E, 0x31 })] // "GET / HTTP/1.1"
    [InlineData(new byte[] { 0x52, 0x52, 0x57, 0x54, 0x01, 0x00, 1, 0, 0, 0, 0, 0, 0, 0 })] // protocol version 1 (before chunk manifests and credentials)
    [InlineData(new byte[] { 0x52, 0x52, 0x57, 0x54, 0x03, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 })] // protocol version 3
    [InlineData(new byte[] { 0x52, 0x52, 0x57, 0x54, 0x02, 0x00, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0 })] // version -2
    [InlineData(new byte[] { 0x52, 0x52, 0x57, 0x54, 0x02, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF })] // first chunk -1
    [InlineData(new byte[] { 0x52, 0x52, 0x57, 0x54, 0x02, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0 })] // first chunk past the end
    public async Task A_malformed_request_is_answered_bad_request_and_closed(byte[] request)
    {
        await using var server = new WeightServer();
        server.Publish(1, RandomBlob(1000, 9));
        if (request.Length == 18) request = [.. request, .. server.Credential.Span]; // a full request with the right credential: only the field named is wrong

        var (status, after) = await RawRequestAsync(server.EndPoint, request);

        Assert.Equal(WeightStatus.BadRequest, status);
        Assert.Equal(0, after);
    }

    [Fact]
    public async Task A_request_longer_than_expected_is_rejected()
    {
        await using var server = new WeightServer();
        server.Publish(1, RandomBlob(1000, 10));
        var request = new byte[64];
        new byte[] { 0x52, 0x52, 0x57, 0x54, 0x02, 0x00, 1 }.CopyTo(request, 0); // a valid request for version 1, then 14 more bytes
        server.Credential.Span.CopyTo(request.AsSpan(18));

        var (status, after) = await RawRequestAsync(server.EndPoint, request);

        Assert.NotEqual(WeightStatus.Ok, status);
        Assert.Equal(0, after);
    }

    [Fact]
    public async Task Garbage_on_the_port_is_refused_counted_and_logged_and_the_server_keeps_serving()
    {
        var log = new List<string>();
        await using var server = new WeightServer(new WeightServerOptions { Log = line => { lock (log) log.Add(line); } });
        var blob = RandomBlob(300_000, 11);
        server.Publish(1, blob);
        var rng = new Random(12);
        for (var i = 0; i < 20; i++)
        {
            var garbage = new byte[rng.Next(6, 4096)];
            rng.NextBytes(garbage);
            var (status, after) = await RawRequestAsync(server.EndPoint, garbage);
            Assert.Equal(WeightStatus.BadRequest, status);   // answered at once: the server does not wait for a timeout
            Assert.Equal(0, after);
        }
        // A client that connects and goes away without a byte, and one that resets mid-request.
        using (var quiet = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)) await quiet.ConnectAsync(server.EndPoint);
        using (var half = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await half.ConnectAsync(server.EndPoint);
            await half.SendAsync(new byte[] { 0x52, 0x52, 0x57, 0x54, 0x02, 0x00, 1 }, SocketFlags.None);
            half.LingerState = new LingerOption(true, 0);
        }

        var fetched = await ClientOf(server).FetchAsync(server.EndPoint, 1);

        Assert.Equal(blob, fetched.Bytes);
        Assert.Equal(20, server.BadRequests);
        lock (log) Assert.Equal(5, log.Count);   // the 1st, 2nd, 4th, 8th and 16th: a flood logs a few lines
        Assert.Contains("refused a request from 127.0.0.1:", log[0]);
        Assert.Contains("(16 such so far)", log[^1]);
    }

    [Fact]
    public async Task A_client_without_the_credential_gets_nothing_and_a_clear_error()
    {
        await using var server = new WeightServer();
        server.Publish(1, RandomBlob(1000, 13));
        var wrong = new byte[32];
        wrong[0] = 1;

        var none = await Assert.ThrowsAsync<WeightTransferException>(() => Client.FetchAsync(server.EndPoint, 1));
        var bad = await Assert.ThrowsAsync<WeightTransferException>(
            () => new WeightClient(Client.Options with { Credential = wrong }).FetchAsync(server.EndPoint, -1));

        Assert.Equal(WeightTransferFailure.Unauthorized, none.Failure);
        Assert.Equal(WeightTransferFailure.Unauthorized, bad.Failure);
        Assert.Contains("refused this client's credential", none.Message);
        Assert.Equal(2, server.UnauthorizedRequests);
        Assert.Equal(1, (await ClientOf(server).FetchAsync(server.EndPoint, 1)).Version);   // the server is fine
    }

    [Fact]
    public async Task A_credential_given_in_the_options_is_the_one_required()
    {
        var credential = RandomNumberGenerator.GetBytes(32);
        await using var server = new WeightServer(new WeightServerOptions { Credential = credential });
        server.Publish(1, RandomBlob(1000, 14));

        Assert.Equal(credential, server.Credential.ToArray());
        Assert.Equal(1, (await new WeightClient(Client.Options with { Credential = credential }).FetchAsync(server.EndPoint, 1)).Version);
        Assert.Throws<ArgumentException>(() => new WeightServer(new WeightServerOptions { Credential = new byte[16] }));
        using var other = new WeightServer();
        Assert.NotEqual(server.Credential.ToArray(), other.Credential.ToArray());   // drawn at random otherwise
    }

    [Fact]
    public void Versions_must_increase()
    {
        using var server = new WeightServer();
        server.Publish(4, [1, 2, 3]);

        Assert.Throws<ArgumentException>(() => server.Publish(4, [1]));
        Assert.Throws<ArgumentException>(() => server.Publish(3, [1]));
        Assert.Equal(4, server.Latest!.Version);
    }

    /// <summary>The manifest digest of <paramref name="blob"/> computed here, independently of the server.</summary>
    internal static string ManifestDigest(byte[] blob, int chunkBytes)
    {
        var manifest = new MemoryStream();
        manifest.Write(BitConverter.GetBytes((long)blob.Length));
        manifest.Write(BitConverter.GetBytes(chunkBytes));
        for (var start = 0; start < blob.Length; start += chunkBytes) manifest.Write(SHA256.HashData(blob.AsSpan(start, Math.Min(chunkBytes, blob.Length - start))));
        return Convert.ToHexStringLower(SHA256.HashData(manifest.ToArray()));
    }

    /// <summary>Sends <paramref name="request"/> as it is; returns the answer's status (null: closed without one) and how many bytes followed the header.</summary>
    internal static async Task<(WeightStatus? Status, int After)> RawRequestAsync(EndPoint server, byte[] request)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server);
        await socket.SendAsync(request, SocketFlags.None);
        using var stream = new NetworkStream(socket);
        var answer = new MemoryStream();
        try
        {
            await stream.CopyToAsync(answer).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (IOException)
        {
            // reset after rejecting the request: counts as closed
        }
        var bytes = answer.ToArray();
        if (bytes.Length < 60) return (null, bytes.Length);
        return ((WeightStatus)BitConverter.ToUInt16(bytes, 6), bytes.Length - 60);
    }

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
