using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Threading.Channels;

namespace RoRecomp.Weights;

/// <summary>
/// Fetches policy-weight blobs from a <see cref="WeightServer"/> (its XML doc describes the wire protocol). Checks the
/// manifest against its digest, then each chunk's SHA-256 against the manifest on verify workers (one per core) while
/// the socket keeps receiving, so hashing is not one core's sequential pass over the blob.
/// <para>
/// A fetch may name several sources (<see cref="FetchAsync(IReadOnlyList{EndPoint}, long, string?, WeightServer?, CancellationToken)"/>):
/// relay peers first, the origin (the learner) last. A relay that fails (refused, lost, unavailable, a bad chunk) is
/// left for the next source, which resumes from the first chunk not yet verified; the origin gets
/// <see cref="WeightClientOptions.MaxAttempts"/> attempts, a chunk or digest mismatch or a connection lost mid-blob
/// starting it again (from the first unverified chunk). With a relay server given, the blob is served to others while
/// it arrives, each chunk once verified. Thread-safe; it holds no connection between fetches.
/// </para>
/// </summary>
public sealed class WeightClient(WeightClientOptions? options = null)
{
    /// <summary>Bytes handed to one receive call.</summary>
    private const int ReceiveSliceBytes = 1024 * 1024;

    private readonly WeightClientOptions _options = Validate(options ?? new WeightClientOptions());

    /// <summary>The settings in force.</summary>
    public WeightClientOptions Options => _options;

    /// <summary>
    /// Fetches <paramref name="version"/> (-1 = the newest the server holds) from <paramref name="server"/>
    /// (an <see cref="IPEndPoint"/> or a <see cref="DnsEndPoint"/>).
    /// </summary>
    /// <exception cref="WeightTransferException">The fetch failed; <see cref="WeightTransferException.Failure"/> says why.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<WeightBlob> FetchAsync(EndPoint server, long version, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(server);
        return FetchAsync([server], version, digest: null, relay: null, cancellationToken);
    }

    /// <summary>
    /// Fetches <paramref name="version"/> from the first of <paramref name="sources"/> that delivers it (relay peers
    /// first, the origin last), resuming where a failed source stopped. When <paramref name="digest"/> is given (the
    /// manifest digest the learner named), any source announcing another fails; without it the first answer's digest is
    /// held to. When <paramref name="relay"/> is given, it serves the blob to other fetchers while it arrives.
    /// </summary>
    /// <exception cref="WeightTransferException">Every source failed; the exception is the origin's (the last source's).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<WeightBlob> FetchAsync(
        IReadOnlyList<EndPoint> sources, long version, string? digest, WeightServer? relay, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentOutOfRangeException.ThrowIfZero(sources.Count);
        ArgumentOutOfRangeException.ThrowIfLessThan(version, -1);
        var state = new FetchState(version, digest is null ? null : Convert.FromHexString(digest), relay);
        try
        {
            for (var s = 0; s < sources.Count; s++)
            {
                var origin = s == sources.Count - 1;
                for (var attempt = 1; ; attempt++)
                {
                    var fetch = new Fetch(sources[s], state.Version, attempt, origin ? _options.MaxAttempts : 1);
                    try
                    {
                        await FetchOnceAsync(fetch, state, cancellationToken).ConfigureAwait(false);
                        var blob = state.Blob!;
                        return new WeightBlob(blob.Version, blob.Bytes, blob.Info.Digest, Describe(sources[s]), state.BytesBySource);
                    }
                    catch (WeightTransferException) when (!origin)
                    {
                        break; // a relay failed: the next source resumes from the first unverified chunk
                    }
                    catch (WeightTransferException ex) when (attempt < _options.MaxAttempts && ex.Failure is
                        WeightTransferFailure.ChecksumMismatch or WeightTransferFailure.DigestMismatch or WeightTransferFailure.ConnectionLost)
                    {
                        // Start again: a fresh connection, the same version, from the first unverified chunk.
                    }
                }
            }
            throw new InvalidOperationException("unreachable: the origin's last attempt either returns or throws");
        }
        catch when (state.Blob is not null && relay is not null)
        {
            relay.Withdraw(state.Blob);
            throw;
        }
    }

    private async Task FetchOnceAsync(Fetch fetch, FetchState state, CancellationToken cancellationToken)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectTimeout);
        try
        {
            await socket.ConnectAsync(fetch.Server, timeout.Token).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            var reason = ex.SocketErrorCode == SocketError.ConnectionRefused ? "connection refused (is the weight server running?)" : ex.Message;
            throw fetch.Fail(WeightTransferFailure.ConnectFailed, $"cannot connect: {reason}", ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw fetch.Fail(WeightTransferFailure.Timeout, $"cannot connect: no connection within {_options.ConnectTimeout.TotalSeconds:0.##} s", ex);
        }

        try
        {
            var firstChunk = state.Blob?.VerifiedPrefix ?? 0;
            timeout.CancelAfter(_options.ReadTimeout);
            await using var stream = await OpenAsync(fetch, socket, timeout.Token).ConfigureAwait(false);
            var request = new byte[WeightWire.RequestBytes];
            WeightWire.WriteRequest(request, fetch.Version, firstChunk, _options.Credential.Span);
            await stream.WriteAsync(request, timeout.Token).ConfigureAwait(false);

            var headerBytes = new byte[WeightWire.HeaderBytes];
            if (!await ReceiveExactlyAsync(stream, headerBytes, timeout).ConfigureAwait(false))
                throw fetch.Fail(WeightTransferFailure.ConnectionLost, "the server closed the connection before answering");
            var header = WeightWire.ReadHeader(headerBytes)
                ?? throw fetch.Fail(WeightTransferFailure.Protocol, "the answer is not a weight-server header (wrong magic or protocol version)");
            CheckHeader(fetch, header);
            var blob = await ReceiveManifestAsync(fetch, stream, header, state, timeout).ConfigureAwait(false);
            await ReceiveChunksAsync(fetch, stream, blob, firstChunk, state, timeout).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or IOException && ex is not WeightTransferException)
        {
            throw fetch.Fail(WeightTransferFailure.ConnectionLost, $"connection lost: {ex.Message}", ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw fetch.Fail(WeightTransferFailure.Timeout, $"nothing received for {_options.ReadTimeout.TotalSeconds:0.##} s", ex);
        }
    }

    /// <summary>The connection's stream: plain, or TLS after a handshake when <see cref="WeightClientOptions.Certificate"/> is set.</summary>
    private async Task<Stream> OpenAsync(Fetch fetch, Socket socket, CancellationToken token)
    {
        if (_options.Certificate is not { } certificate) return new NetworkStream(socket, ownsSocket: false);
        var host = fetch.Server switch
        {
            DnsEndPoint d => d.Host,
            IPEndPoint i => i.Address.ToString(),
            _ => fetch.Server.ToString() ?? "",
        };
        try
        {
            return await WeightTls.ConnectAsync(socket, certificate, host, token).ConfigureAwait(false);
        }
        catch (Exception e) when (WeightTls.IsHandshakeFailure(e))
        {
            throw fetch.Fail(WeightTransferFailure.Unauthorized, $"the TLS handshake failed (is the server's certificate the cluster's?): {e.Message}", e);
        }
    }

    private void CheckHeader(Fetch fetch, WireHeader header)
    {
        var newest = header.Version < 0 ? "none is published" : $"the newest is {header.Version}";
        switch (header.Status)
        {
            case WeightStatus.Ok:
                break;
            case WeightStatus.NotPublished:
                throw fetch.Fail(WeightTransferFailure.VersionUnavailable, $"the server does not have it ({newest})");
            case WeightStatus.Evicted:
                throw fetch.Fail(WeightTransferFailure.VersionUnavailable, $"the server evicted it ({newest})");
            case WeightStatus.Unauthorized:
                throw fetch.Fail(WeightTransferFailure.Unauthorized,
                    "the server refused this client's credential (only the learner's cluster members, which it tells the credential, may fetch)");
            case WeightStatus.BadRequest:
                throw fetch.Fail(WeightTransferFailure.Protocol, "the server rejected the request as malformed");
            default:
                throw fetch.Fail(WeightTransferFailure.Protocol, $"unknown status {(ushort)header.Status} in the answer");
        }
        if (header.Version < 0 || (fetch.Version != -1 && header.Version != fetch.Version))
            throw fetch.Fail(WeightTransferFailure.Protocol, $"the server sent version {header.Version}");
        if (header.Length < 0 || header.ChunkBytes <= 0 || header.ChunkBytes > WeightServerOptions.MaxChunkBytes)
            throw fetch.Fail(WeightTransferFailure.Protocol, $"invalid length {header.Length} or chunk size {header.ChunkBytes} in the answer");
        var max = Math.Min(_options.MaxBlobBytes, Array.MaxLength);
        if (header.Length > max)
            throw fetch.Fail(WeightTransferFailure.TooLarge, $"the blob has {header.Length:N0} bytes, more than the {max:N0} allowed");
    }

    /// <summary>Receives the manifest and checks it against the header's digest and the one the fetch holds to; the first time, allocates the blob (and offers it to the relay).</summary>
    private async Task<ServedBlob> ReceiveManifestAsync(Fetch fetch, Stream socket, WireHeader header, FetchState state, CancellationTokenSource timeout)
    {
        var hashes = new byte[WeightWire.ChunkCount(header.Length, header.ChunkBytes) * WeightWire.ChunkHashBytes];
        if (!await ReceiveExactlyAsync(socket, hashes, timeout).ConfigureAwait(false))
            throw fetch.Fail(WeightTransferFailure.ConnectionLost, "the server closed the connection in the manifest");
        var digest = WeightWire.ManifestDigest(header.Length, header.ChunkBytes, hashes);
        if (!digest.AsSpan().SequenceEqual(header.Digest.Span))
            throw fetch.Fail(WeightTransferFailure.DigestMismatch, $"the manifest of version {header.Version} does not match the header's digest {Convert.ToHexStringLower(header.Digest.Span)}");
        if (state.Digest is { } expected && !digest.AsSpan().SequenceEqual(expected))
            throw fetch.Fail(WeightTransferFailure.DigestMismatch, $"version {header.Version} has digest {Convert.ToHexStringLower(digest)}, not the {Convert.ToHexStringLower(expected)} named for it");
        if (state.Blob is { } held) return held;

        var blob = new ServedBlob(header.Version, GC.AllocateUninitializedArray<byte>((int)header.Length), header.ChunkBytes, hashes, digest, complete: false);
        state.Pin(blob);
        try
        {
            state.Relay?.Relay(blob);
        }
        catch (ArgumentException)
        {
            // The relay already serves this version or a newer one: fetch without relaying.
        }
        return blob;
    }

    private async Task ReceiveChunksAsync(Fetch fetch, Stream socket, ServedBlob blob, int firstChunk, FetchState state, CancellationTokenSource timeout)
    {
        blob.ForgetPastPrefix();
        var source = Describe(fetch.Server);
        var verification = new Verification(blob, timeout);
        var queue = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleWriter = true });
        var workers = Enumerable.Range(0, Math.Clamp(Environment.ProcessorCount, 1, 8)).Select(_ => Task.Run(() => verification.RunAsync(queue.Reader))).ToList();
        try
        {
            for (var chunk = firstChunk; chunk < blob.Chunks; chunk++)
            {
                var target = blob.ChunkToFill(chunk);
                for (var offset = 0; offset < target.Length;)
                {
                    timeout.CancelAfter(_options.ReadTimeout);
                    var n = await socket.ReadAsync(target.Slice(offset, Math.Min(target.Length - offset, ReceiveSliceBytes)), timeout.Token)
                        .ConfigureAwait(false);
                    if (n == 0)
                    {
                        var received = (long)chunk * blob.ChunkBytes + offset;
                        throw fetch.Fail(WeightTransferFailure.ConnectionLost, $"the server closed the connection after {received:N0} of {blob.Bytes.Length:N0} bytes");
                    }
                    offset += n;
                    state.Count(source, n);
                }
                queue.Writer.TryWrite(chunk);
            }
        }
        catch (OperationCanceledException) when (verification.BadChunk >= 0)
        {
            // A verify worker found a bad chunk and stopped the receive: reported below.
        }
        finally
        {
            queue.Writer.Complete(); // on a failure too, so that the workers end
            await Task.WhenAll(workers).ConfigureAwait(false);
        }
        if (verification.BadChunk is >= 0 and var bad)
            throw fetch.Fail(WeightTransferFailure.ChecksumMismatch, $"chunk {bad} of {blob.Chunks} (version {blob.Version}) failed its SHA-256", chunk: bad);
    }

    /// <summary>"host:port" of an endpoint (a <see cref="DnsEndPoint"/>'s ToString would prefix its address family).</summary>
    internal static string Describe(EndPoint endPoint) => endPoint is DnsEndPoint dns ? $"{dns.Host}:{dns.Port}" : endPoint.ToString()!;

    private static WeightClientOptions Validate(WeightClientOptions o)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(o.MaxAttempts, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(o.MaxBlobBytes, nameof(options));
        return o;
    }

    /// <summary>Fills <paramref name="buffer"/>; false when the server closed the connection first.</summary>
    private async ValueTask<bool> ReceiveExactlyAsync(Stream socket, Memory<byte> buffer, CancellationTokenSource timeout)
    {
        for (var read = 0; read < buffer.Length;)
        {
            timeout.CancelAfter(_options.ReadTimeout);
            var n = await socket.ReadAsync(buffer[read..], timeout.Token).ConfigureAwait(false);
            if (n == 0) return false;
            read += n;
        }
        return true;
    }

    /// <summary>What a fetch holds across its attempts and sources: the version and digest it settled on, the blob so far, bytes per source.</summary>
    private sealed class FetchState(long version, byte[]? digest, WeightServer? relay)
    {
        private readonly List<(string Source, long Bytes)> _bytesBySource = [];

        public long Version { get; private set; } = version;

        public byte[]? Digest { get; private set; } = digest;

        public WeightServer? Relay { get; } = relay;

        public ServedBlob? Blob { get; private set; }

        public IReadOnlyList<(string Source, long Bytes)> BytesBySource
        {
            get
            {
                lock (_bytesBySource) return [.. _bytesBySource];
            }
        }

        public void Pin(ServedBlob blob)
        {
            Blob = blob;
            Version = blob.Version;
            Digest = blob.Digest;
        }

        public void Count(string source, int bytes)
        {
            lock (_bytesBySource)
            {
                if (_bytesBySource.Count > 0 && _bytesBySource[^1].Source == source) _bytesBySource[^1] = (source, _bytesBySource[^1].Bytes + bytes);
                else _bytesBySource.Add((source, bytes));
            }
        }
    }

    /// <summary>The verify workers of one attempt: hash each received chunk, mark it verified, or record the first bad one and stop the receive.</summary>
    private sealed class Verification(ServedBlob blob, CancellationTokenSource receive)
    {
        private int _badChunk = -1;

        public int BadChunk => Volatile.Read(ref _badChunk);

        public async Task RunAsync(ChannelReader<int> chunks)
        {
            var hash = new byte[WeightWire.ChunkHashBytes];
            await foreach (var chunk in chunks.ReadAllAsync().ConfigureAwait(false))
            {
                if (BadChunk >= 0) continue; // drain: the attempt has failed
                SHA256.HashData(blob.Chunk(chunk).Span, hash);
                if (hash.AsSpan().SequenceEqual(blob.ChunkHash(chunk)))
                {
                    blob.MarkVerified(chunk);
                    continue;
                }
                if (Interlocked.CompareExchange(ref _badChunk, chunk, -1) == -1)
                {
                    try
                    {
                        receive.Cancel();
                    }
                    catch (ObjectDisposedException)
                    {
                        // the attempt already ended
                    }
                }
            }
        }
    }

    /// <summary>One attempt at a fetch: what its error messages name.</summary>
    private readonly record struct Fetch(EndPoint Server, long Version, int Attempt, int Attempts)
    {
        public WeightTransferException Fail(WeightTransferFailure failure, string reason, Exception? inner = null, int? chunk = null) =>
            new(failure, Server, Version,
                $"weight fetch of version {(Version == -1 ? "newest" : Version)} from {Server} failed (attempt {Attempt} of {Attempts}): {reason}",
                chunk, inner);
    }
}
