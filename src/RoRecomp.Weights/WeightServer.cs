using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;

namespace RoRecomp.Weights;

/// <summary>
/// Serves versioned policy-weight blobs over a plain TCP stream beside Akka remoting, which carries only the control
/// messages (version, host, port, SHA-256): one TCP stream moves several GB/s on loopback where Akka.Remote moves a few
/// hundred MB/s. The learner calls <see cref="Publish"/> after each step; samplers fetch with <see cref="WeightClient"/>.
/// The newest <see cref="WeightServerOptions.KeepVersions"/> versions stay fetchable; any number of clients may fetch at
/// once, and a fetch in progress keeps its blob even when a newer publish evicts it.
/// </summary>
/// <remarks>
/// <para>Wire protocol, version 1 (integers little-endian; one request per connection):</para>
/// <list type="number">
/// <item><description>Client to server, exactly 46 bytes: magic <c>"RRWT"</c> (u32 0x54575252), protocol version
/// (u16, 2), wanted version (i64; -1 = the newest), the server's <see cref="Credential"/> (32 bytes). A wrong
/// credential is answered <see cref="WeightStatus.Unauthorized"/> (compared in constant time).</description></item>
/// <item><description>Server to client, a 60-byte header: magic (u32), protocol version (u16), status (u16,
/// <see cref="WeightStatus"/>), version (i64), length in bytes (i64), chunk size in bytes (i32), SHA-256 of the whole
/// blob (32 bytes). Unless the status is <see cref="WeightStatus.Ok"/> the server closes the connection after the
/// header; the version field then holds the newest version the server has (-1 = none) and the rest is zero.</description></item>
/// <item><description>Then ceil(length / chunk size) chunks in order, each the chunk's bytes (the last may be shorter)
/// followed by the XxHash3-64 (seed 0) of those bytes as a u64; then the server closes the connection.</description></item>
/// </list>
/// <para>A request that is malformed (wrong magic or protocol version, a version below -1) or longer than 46 bytes is
/// answered <see cref="WeightStatus.BadRequest"/> and the connection closed; one that is not complete within
/// <see cref="WeightServerOptions.RequestTimeout"/> is dropped. The server reads nothing else from the network: no
/// request names a file or selects code. Per-chunk checksums and the SHA-256 are computed once, at publish.</para>
/// </remarks>
public sealed class WeightServer : IDisposable, IAsyncDisposable
{
    private static readonly byte[] NoDigest = new byte[32];

    private readonly WeightServerOptions _options;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly List<ServedBlob> _blobs = []; // oldest first
    private readonly ConcurrentDictionary<Socket, Task> _connections = new();
    private readonly Task _acceptLoop;
    private readonly byte[] _credential;
    private long _badRequests;
    private long _unauthorized;

    /// <summary>Binds and starts listening at once; <see cref="EndPoint"/> is the bound address.</summary>
    public WeightServer(WeightServerOptions? options = null)
    {
        _options = options ?? new WeightServerOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.KeepVersions, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.ChunkBytes, WeightServerOptions.MinChunkBytes, nameof(options));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(_options.ChunkBytes, WeightServerOptions.MaxChunkBytes, nameof(options));
        _credential = _options.Credential?.ToArray() ?? RandomNumberGenerator.GetBytes(WeightWire.CredentialBytes);
        if (_credential.Length != WeightWire.CredentialBytes)
            throw new ArgumentException($"the credential must have {WeightWire.CredentialBytes} bytes, not {_credential.Length}", nameof(options));
        var address = IPAddress.TryParse(_options.Host, out var literal)
            ? literal
            : Dns.GetHostAddresses(_options.Host).FirstOrDefault() ?? throw new ArgumentException($"host '{_options.Host}' has no address", nameof(options));
        _listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            _listener.Bind(new IPEndPoint(address, _options.Port));
            _listener.Listen(128);
        }
        catch
        {
            _listener.Dispose();
            throw;
        }
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _acceptLoop = Task.Run(AcceptLoopAsync); // off the caller's scheduler (an actor's, say)
    }

    /// <summary>The address and port the server listens on (the port chosen when <see cref="WeightServerOptions.Port"/> is 0).</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>The port the server listens on.</summary>
    public int Port => EndPoint.Port;

    /// <summary>
    /// The 32 bytes a client must send with each request (<see cref="WeightClientOptions.Credential"/>): hand them only to
    /// those who may fetch the policy (the learner sends them to cluster members with <c>PolicyAvailable</c>).
    /// </summary>
    public ReadOnlyMemory<byte> Credential => _credential;

    /// <summary>Requests refused as malformed (garbage, another protocol version, an oversized request) since start.</summary>
    public long BadRequests => Interlocked.Read(ref _badRequests);

    /// <summary>Well-formed requests refused for a wrong or missing credential since start.</summary>
    public long UnauthorizedRequests => Interlocked.Read(ref _unauthorized);

    /// <summary>The bytes per chunk on the wire.</summary>
    public int ChunkBytes => _options.ChunkBytes;

    /// <summary>The newest published blob, or null before the first <see cref="Publish"/>.</summary>
    public PublishedWeights? Latest
    {
        get
        {
            lock (_gate) return _blobs.Count == 0 ? null : _blobs[^1].Info;
        }
    }

    /// <summary>
    /// Test hook: called with each chunk index as it is sent; when it returns true the server sends that chunk with one
    /// byte flipped (and the checksum of the true bytes), as a corrupting network would.
    /// </summary>
    internal Func<int, bool>? CorruptChunk { get; set; }

    /// <summary>
    /// Serves <paramref name="blob"/> as <paramref name="version"/> from now on and evicts versions beyond the newest
    /// <see cref="WeightServerOptions.KeepVersions"/>. Computes the chunk checksums and the SHA-256 here, on the calling
    /// thread (about 0.7 s per GB). The server keeps the array: do not change it afterwards.
    /// </summary>
    /// <exception cref="ArgumentException">The version is not newer than the newest published.</exception>
    public PublishedWeights Publish(long version, byte[] blob)
    {
        ArgumentNullException.ThrowIfNull(blob);
        ArgumentOutOfRangeException.ThrowIfNegative(version);
        ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
        var served = ServedBlob.Create(version, blob, _options.ChunkBytes);
        lock (_gate)
        {
            if (_blobs.Count > 0 && version <= _blobs[^1].Version)
                throw new ArgumentException($"version {version} is not newer than the newest published, {_blobs[^1].Version}", nameof(version));
            _blobs.Add(served);
            if (_blobs.Count > _options.KeepVersions) _blobs.RemoveRange(0, _blobs.Count - _options.KeepVersions);
        }
        return served.Info;
    }

    /// <summary>Stops listening and drops every connection (clients in the middle of a fetch see it fail).</summary>
    public void Dispose()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        _listener.Dispose();
        foreach (var socket in _connections.Keys) socket.Dispose();
    }

    /// <summary>As <see cref="Dispose"/>, then waits until every connection handler has finished.</summary>
    public async ValueTask DisposeAsync()
    {
        Dispose();
        await _acceptLoop.ConfigureAwait(false);
        await Task.WhenAll(_connections.Values).ConfigureAwait(false);
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException || _stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // a client that reset before it was accepted
            }
            _connections[client] = ServeAsync(client);
        }
    }

    private async Task ServeAsync(Socket client)
    {
        // Return to the accept loop at once: it registers this connection before the handler can finish and remove it.
        await Task.Yield();
        try
        {
            client.NoDelay = true;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            var request = new byte[WeightWire.RequestBytes];
            timeout.CancelAfter(_options.RequestTimeout);
            await using var stream = await OpenAsync(client, timeout.Token).ConfigureAwait(false);
            if (stream is null) return;
            if (!await ReceiveRequestAsync(stream, request.AsMemory(0, WeightWire.RequestPrefixBytes), timeout.Token).ConfigureAwait(false)) return;
            var wellFormed = WeightWire.IsRequestPrefix(request)   // garbage is answered at once, not after the timeout
                && await ReceiveRequestAsync(stream, request.AsMemory(WeightWire.RequestPrefixBytes), timeout.Token).ConfigureAwait(false)
                && (_options.Certificate is not null || client.Available == 0);
            var wanted = wellFormed ? WeightWire.ReadRequest(request) : null;
            var (header, blob) = wanted is not null && !CryptographicOperations.FixedTimeEquals(WeightWire.RequestCredential(request), _credential)
                ? Refuse(WeightStatus.Unauthorized, client, ref _unauthorized, "its credential is not this server's")
                : Lookup(wanted);
            if (header.Status == WeightStatus.BadRequest) Refused(client, ref _badRequests, "it is not a weight request of protocol version 2");
            var headerBytes = new byte[WeightWire.HeaderBytes];
            WeightWire.WriteHeader(headerBytes, header);
            await SendAsync(stream, headerBytes, timeout).ConfigureAwait(false);
            if (blob is not null) await SendChunksAsync(stream, blob, timeout).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
            // A request or send timeout, a client that went away, or the server stopping: drop the connection.
        }
        finally
        {
            _connections.TryRemove(client, out _);
            client.Dispose();
        }
    }

    /// <summary>
    /// The connection's stream: plain, or TLS after a handshake (<see cref="WeightServerOptions.Certificate"/>); null when
    /// the client failed the handshake (no certificate, a foreign one, not TLS at all), which is counted and logged.
    /// </summary>
    private async Task<Stream?> OpenAsync(Socket client, CancellationToken token)
    {
        if (_options.Certificate is not { } certificate) return new NetworkStream(client, ownsSocket: false);
        try
        {
            return await WeightTls.AcceptAsync(client, certificate, token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException)   // the peer's fault or a reset: counted alike
        {
            Refused(client, ref _unauthorized, $"the TLS handshake failed (a client without the cluster's certificate?): {e.Message}");
            return null;
        }
    }

    /// <summary>Fills <paramref name="buffer"/> from the client; false when it closed the connection first.</summary>
    private static async ValueTask<bool> ReceiveRequestAsync(Stream client, Memory<byte> buffer, CancellationToken token)
    {
        for (var read = 0; read < buffer.Length;)
        {
            var n = await client.ReadAsync(buffer[read..], token).ConfigureAwait(false);
            if (n == 0) return false;
            read += n;
        }
        return true;
    }

    private (WireHeader Header, ServedBlob? Blob) Refuse(WeightStatus status, Socket client, ref long count, string why)
    {
        Refused(client, ref count, why);
        return (new WireHeader(status, -1, 0, 0, NoDigest), null);   // nothing about what the server holds
    }

    /// <summary>Counts a refused request and logs the 1st, 2nd, 4th, 8th... of its kind (a flood of garbage logs a few lines).</summary>
    private void Refused(Socket client, ref long count, string why)
    {
        var n = Interlocked.Increment(ref count);
        if ((n & (n - 1)) == 0)
            _options.Log?.Invoke($"weight server {EndPoint}: refused a request from {SafeRemote(client)}: {why} ({n} such so far)");
    }

    private static string SafeRemote(Socket client)
    {
        try
        {
            return client.RemoteEndPoint?.ToString() ?? "?";
        }
        catch (SocketException)
        {
            return "?";
        }
    }

    private async Task SendChunksAsync(Stream client, ServedBlob blob, CancellationTokenSource timeout)
    {
        var trailer = new byte[WeightWire.ChecksumBytes];
        for (var i = 0; i < blob.ChunkChecksums.Length; i++)
        {
            var chunk = blob.Chunk(i);
            byte[]? corrupted = null;
            if (CorruptChunk?.Invoke(i) == true)
            {
                corrupted = ArrayPool<byte>.Shared.Rent(chunk.Length);
                chunk.Span.CopyTo(corrupted);
                corrupted[chunk.Length / 2] ^= 0xFF;
            }
            try
            {
                await SendAsync(client, corrupted?.AsMemory(0, chunk.Length) ?? chunk, timeout).ConfigureAwait(false);
            }
            finally
            {
                if (corrupted is not null) ArrayPool<byte>.Shared.Return(corrupted);
            }
            BinaryPrimitives.WriteUInt64LittleEndian(trailer, blob.ChunkChecksums[i]);
            await SendAsync(client, trailer, timeout).ConfigureAwait(false);
        }
    }

    private async ValueTask SendAsync(Stream client, ReadOnlyMemory<byte> bytes, CancellationTokenSource timeout)
    {
        timeout.CancelAfter(_options.SendTimeout);
        await client.WriteAsync(bytes, timeout.Token).ConfigureAwait(false);
    }

    private (WireHeader Header, ServedBlob? Blob) Lookup(long? wanted)
    {
        lock (_gate)
        {
            var newest = _blobs.Count == 0 ? -1 : _blobs[^1].Version;
            if (wanted is not { } version) return (new WireHeader(WeightStatus.BadRequest, newest, 0, 0, NoDigest), null);
            var blob = version == -1 ? _blobs.LastOrDefault() : _blobs.Find(b => b.Version == version);
            if (blob is not null) return (new WireHeader(WeightStatus.Ok, blob.Version, blob.Bytes.Length, blob.ChunkBytes, blob.Sha256), blob);
            var status = _blobs.Count > 0 && version < _blobs[0].Version ? WeightStatus.Evicted : WeightStatus.NotPublished;
            return (new WireHeader(status, newest, 0, 0, NoDigest), null);
        }
    }
}
