using System.Buffers.Binary;
using System.IO.Hashing;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Threading.Channels;

namespace RoRecomp.Weights;

/// <summary>
/// Fetches policy-weight blobs from a <see cref="WeightServer"/> (its XML doc describes the wire protocol). Verifies
/// every chunk's checksum and, unless <see cref="WeightClientOptions.VerifySha256"/> is off, the whole blob's SHA-256,
/// both while the bytes arrive; a mismatch or a connection lost mid-blob starts the fetch again, up to
/// <see cref="WeightClientOptions.MaxAttempts"/> attempts. Thread-safe; it holds no connection between fetches.
/// </summary>
public sealed class WeightClient(WeightClientOptions? options = null)
{
    /// <summary>Bytes handed to one receive call: small enough that the chunk checksum reads them while they are still in cache.</summary>
    private const int ReceiveSliceBytes = 256 * 1024;

    private readonly WeightClientOptions _options = Validate(options ?? new WeightClientOptions());

    /// <summary>The settings in force.</summary>
    public WeightClientOptions Options => _options;

    /// <summary>
    /// Fetches <paramref name="version"/> (-1 = the newest the server holds) from <paramref name="server"/>
    /// (an <see cref="IPEndPoint"/> or a <see cref="DnsEndPoint"/>).
    /// </summary>
    /// <exception cref="WeightTransferException">The fetch failed; <see cref="WeightTransferException.Failure"/> says why.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<WeightBlob> FetchAsync(EndPoint server, long version, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentOutOfRangeException.ThrowIfLessThan(version, -1);
        for (var attempt = 1; ; attempt++)
        {
            var fetch = new Fetch(server, version, attempt, _options.MaxAttempts);
            try
            {
                return await FetchOnceAsync(fetch, cancellationToken).ConfigureAwait(false);
            }
            catch (WeightTransferException ex) when (attempt < _options.MaxAttempts && ex.Failure is
                WeightTransferFailure.ChecksumMismatch or WeightTransferFailure.DigestMismatch or WeightTransferFailure.ConnectionLost)
            {
                // Start again: a fresh connection, the same version.
            }
        }
    }

    private async Task<WeightBlob> FetchOnceAsync(Fetch fetch, CancellationToken cancellationToken)
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
            timeout.CancelAfter(_options.ReadTimeout);
            await using var stream = await OpenAsync(fetch, socket, timeout.Token).ConfigureAwait(false);
            var request = new byte[WeightWire.RequestBytes];
            WeightWire.WriteRequest(request, fetch.Version, _options.Credential.Span);
            await stream.WriteAsync(request, timeout.Token).ConfigureAwait(false);

            var headerBytes = new byte[WeightWire.HeaderBytes];
            if (!await ReceiveExactlyAsync(stream, headerBytes, timeout).ConfigureAwait(false))
                throw fetch.Fail(WeightTransferFailure.ConnectionLost, "the server closed the connection before answering");
            var header = WeightWire.ReadHeader(headerBytes)
                ?? throw fetch.Fail(WeightTransferFailure.Protocol, "the answer is not a weight-server header (wrong magic or protocol version)");
            CheckHeader(fetch, header);
            return await ReceiveBlobAsync(fetch, stream, header, timeout).ConfigureAwait(false);
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

    private async Task<WeightBlob> ReceiveBlobAsync(Fetch fetch, Stream socket, WireHeader header, CancellationTokenSource timeout)
    {
        var bytes = GC.AllocateUninitializedArray<byte>((int)header.Length);
        // SHA-256, the costliest step, runs on another thread a chunk behind the socket: inline, it held a 1 GiB fetch
        // over loopback to about 1.0 GB/s on the 2-core machine; beside the receive loop, 1.5-1.7 GB/s.
        var toHash = Channel.CreateUnbounded<ReadOnlyMemory<byte>>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var hashing = _options.VerifySha256 ? Task.Run(() => Sha256Async(toHash.Reader)) : null;
        try
        {
            var xxh = new XxHash3();
            var trailer = new byte[WeightWire.ChecksumBytes];
            var chunks = (int)((header.Length + header.ChunkBytes - 1) / header.ChunkBytes);
            var offset = 0;
            for (var chunk = 0; chunk < chunks; chunk++)
            {
                var start = offset;
                var end = (int)Math.Min(offset + (long)header.ChunkBytes, header.Length);
                while (offset < end)
                {
                    timeout.CancelAfter(_options.ReadTimeout);
                    var n = await socket.ReadAsync(bytes.AsMemory(offset, Math.Min(end - offset, ReceiveSliceBytes)), timeout.Token)
                        .ConfigureAwait(false);
                    if (n == 0) throw fetch.Fail(WeightTransferFailure.ConnectionLost, $"the server closed the connection after {offset:N0} of {header.Length:N0} bytes");
                    xxh.Append(bytes.AsSpan(offset, n));
                    offset += n;
                }
                if (!await ReceiveExactlyAsync(socket, trailer, timeout).ConfigureAwait(false))
                    throw fetch.Fail(WeightTransferFailure.ConnectionLost, $"the server closed the connection after {offset:N0} of {header.Length:N0} bytes");
                if (xxh.GetCurrentHashAsUInt64() != BinaryPrimitives.ReadUInt64LittleEndian(trailer))
                    throw fetch.Fail(WeightTransferFailure.ChecksumMismatch, $"chunk {chunk} of {chunks} (version {header.Version}) failed its checksum", chunk: chunk);
                xxh.Reset();
                if (hashing is not null) toHash.Writer.TryWrite(bytes.AsMemory(start, end - start));
            }
        }
        finally
        {
            toHash.Writer.Complete(); // on a failure too, so that the hashing task ends
        }
        var digest = Convert.ToHexStringLower(header.Sha256.Span);
        if (hashing is not null && !(await hashing.ConfigureAwait(false)).AsSpan().SequenceEqual(header.Sha256.Span))
            throw fetch.Fail(WeightTransferFailure.DigestMismatch, $"the SHA-256 of version {header.Version} does not match the header's {digest}");
        return new WeightBlob(header.Version, bytes, digest, hashing is not null);
    }

    private static async Task<byte[]> Sha256Async(ChannelReader<ReadOnlyMemory<byte>> chunks)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await foreach (var chunk in chunks.ReadAllAsync().ConfigureAwait(false)) sha.AppendData(chunk.Span);
        return sha.GetHashAndReset();
    }

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

    /// <summary>One attempt at a fetch: what its error messages name.</summary>
    private readonly record struct Fetch(EndPoint Server, long Version, int Attempt, int Attempts)
    {
        public WeightTransferException Fail(WeightTransferFailure failure, string reason, Exception? inner = null, int? chunk = null) =>
            new(failure, Server, Version,
                $"weight fetch of version {(Version == -1 ? "newest" : Version)} from {Server} failed (attempt {Attempt} of {Attempts}): {reason}",
                chunk, inner);
    }
}
