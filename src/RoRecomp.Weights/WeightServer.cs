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
/// <para>Wire protocol, version 2 (integers little-endian; one request per connection):</para>
/// <list type="number">
/// <item><description>Client to server, exactly 50 bytes: magic <c>"RRWT"</c> (u32 0x54575252), protocol version
/// (u16, 2), wanted version (i64; -1 = the newest), first chunk wanted (i32; 0 = all, more to resume a fetch), the
/// server's <see cref="Credential"/> (32 bytes). A wrong credential is answered <see cref="WeightStatus.Unauthorized"/>
/// (compared in constant time) before the server looks for the version; a relay's server checks the same run credential
/// as the learner's.</description></item>
/// <item><description>Server to client, a 60-byte header: magic (u32), protocol version (u16), status (u16,
/// <see cref="WeightStatus"/>), version (i64), length in bytes (i64), chunk size in bytes (i32), manifest digest (32
/// bytes: SHA-256 over the length, the chunk size and the manifest). Unless the status is <see cref="WeightStatus.Ok"/>
/// the server closes the connection after the header; the version field then holds the newest version the server has
/// (-1 = none) and the rest is zero.</description></item>
/// <item><description>The manifest: the SHA-256 of every chunk, 32 bytes each, ceil(length / chunk size) of them.</description></item>
/// <item><description>Then the chunks from the first wanted to the last, in order, bare (the last may be shorter); then
/// the server closes the connection. The client checks the manifest against the digest (which the learner also names
/// in its control message) and every chunk against the manifest as it arrives.</description></item>
/// </list>
/// <para>A request that is malformed (wrong magic or protocol version, a version below -1, a first chunk past the end)
/// or longer than 50 bytes is answered <see cref="WeightStatus.BadRequest"/> and the connection closed; garbage is
/// rejected on its first 6 bytes, not after a timeout. One that is not complete within
/// <see cref="WeightServerOptions.RequestTimeout"/> is dropped. Refused requests are counted (<see cref="BadRequests"/>,
/// <see cref="UnauthorizedRequests"/>) and logged sparingly (<see cref="WeightServerOptions.Log"/>). With
/// <see cref="WeightServerOptions.Certificate"/> set all of this runs inside TLS (<see cref="WeightTls"/>). The server
/// reads nothing else from the network: no request names a file or selects code. Chunk hashes are computed once, at
/// publish; a relayed blob (<see cref="Relay"/>) carries the manifest it was fetched with, and its chunks go out only
/// once verified.</para>
/// </remarks>
public sealed class WeightServer : IDisposable, IAsyncDisposable
{
    private static readonly byte[] NoDigest = new byte[32];

    /// <summary>Bytes handed to one send call while an upload cap is on (so that pacing is smooth).</summary>
    private const int PacedSliceBytes = 256 * 1024;

    private readonly WeightServerOptions _options;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly List<ServedBlob> _blobs = []; // oldest first
    private readonly ConcurrentDictionary<Socket, Task> _connections = new();
    private readonly UploadLimiter? _limiter;
    private readonly Task _acceptLoop;
    private TaskCompletionSource _added = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _blobBytesSent;
    private volatile byte[] _credential;
    private long _badRequests;
    private long _unauthorized;

    /// <summary>Binds and starts listening at once; <see cref="EndPoint"/> is the bound address.</summary>
    public WeightServer(WeightServerOptions? options = null)
    {
        _options = options ?? new WeightServerOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.KeepVersions, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.ChunkBytes, WeightServerOptions.MinChunkBytes, nameof(options));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(_options.ChunkBytes, WeightServerOptions.MaxChunkBytes, nameof(options));
        if (_options.UploadBytesPerSecond is { } rate)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(rate, 1, nameof(options));
            _limiter = new UploadLimiter(rate);
        }
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

    /// <summary>
    /// Requires <paramref name="credential"/> (32 bytes) of every request from now on. A relay calls it with the run's
    /// credential the learner handed it: its server then accepts exactly the clients the learner's does.
    /// </summary>
    /// <exception cref="ArgumentException">The credential is not 32 bytes long.</exception>
    public void RequireCredential(ReadOnlySpan<byte> credential)
    {
        if (credential.Length != WeightWire.CredentialBytes)
            throw new ArgumentException($"the credential must have {WeightWire.CredentialBytes} bytes, not {credential.Length}", nameof(credential));
        if (!credential.SequenceEqual(_credential)) _credential = credential.ToArray();
    }

    /// <summary>Requests refused as malformed (garbage, another protocol version, an oversized request) since start.</summary>
    public long BadRequests => Interlocked.Read(ref _badRequests);

    /// <summary>Well-formed requests refused for a wrong or missing credential since start.</summary>
    public long UnauthorizedRequests => Interlocked.Read(ref _unauthorized);

    /// <summary>The bytes per chunk on the wire.</summary>
    public int ChunkBytes => _options.ChunkBytes;

    /// <summary>Blob bytes (chunks, not headers or manifests) sent so far over all connections: what this node uploaded.</summary>
    public long BlobBytesSent => Interlocked.Read(ref _blobBytesSent);

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
    /// byte flipped (the manifest keeps the hash of the true bytes), as a corrupting network would.
    /// </summary>
    internal Func<int, bool>? CorruptChunk { get; set; }

    /// <summary>
    /// Serves <paramref name="blob"/> as <paramref name="version"/> from now on and evicts versions beyond the newest
    /// <see cref="WeightServerOptions.KeepVersions"/>. Computes the chunk hashes here (SHA-256, one chunk per thread-pool
    /// task). The server keeps the array: do not change it afterwards.
    /// </summary>
    /// <exception cref="ArgumentException">The version is not newer than the newest published.</exception>
    public PublishedWeights Publish(long version, byte[] blob)
    {
        ArgumentNullException.ThrowIfNull(blob);
        ArgumentOutOfRangeException.ThrowIfNegative(version);
        ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
        var served = ServedBlob.Create(version, blob, _options.ChunkBytes);
        Add(served);
        return served.Info;
    }

    /// <summary>
    /// Serves a blob that is still being fetched (by <see cref="WeightClient"/> with this server as its relay): its chunks
    /// go out as the fetch verifies them. Versions must increase as with <see cref="Publish"/>.
    /// </summary>
    internal void Relay(ServedBlob blob) => Add(blob);

    /// <summary>Stops serving <paramref name="blob"/> (its fetch failed for good); connections waiting for its chunks drop.</summary>
    internal void Withdraw(ServedBlob blob)
    {
        lock (_gate) _blobs.Remove(blob);
        blob.Abort();
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

    private void Add(ServedBlob served)
    {
        TaskCompletionSource added;
        lock (_gate)
        {
            if (_blobs.Count > 0 && served.Version <= _blobs[^1].Version)
                throw new ArgumentException($"version {served.Version} is not newer than the newest published, {_blobs[^1].Version}", nameof(served));
            _blobs.Add(served);
            if (_blobs.Count > _options.KeepVersions) _blobs.RemoveRange(0, _blobs.Count - _options.KeepVersions);
            (added, _added) = (_added, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        }
        added.TrySetResult();
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
            timeout.CancelAfter(_options.RequestTimeout);
            await using var stream = await OpenAsync(client, timeout.Token).ConfigureAwait(false);
            if (stream is null) return;
            var (closed, request) = await ReadRequestAsync(stream, client, timeout.Token).ConfigureAwait(false);
            if (closed) return;
            var (header, blob) = request is { } r && !CryptographicOperations.FixedTimeEquals(r.Credential, _credential)
                ? Refuse(WeightStatus.Unauthorized, client, ref _unauthorized, "its credential is not this server's")
                : await LookupAsync(request, timeout.Token).ConfigureAwait(false);
            if (header.Status == WeightStatus.BadRequest)
                Refused(client, ref _badRequests, "it is not a weight request of protocol version 2 (or asks for a chunk past the end)");
            var headerBytes = new byte[WeightWire.HeaderBytes];
            WeightWire.WriteHeader(headerBytes, header);
            await SendAsync(stream, headerBytes, timeout).ConfigureAwait(false);
            if (blob is null) return;
            await SendAsync(stream, blob.ChunkHashes, timeout).ConfigureAwait(false);
            await SendChunksAsync(stream, blob, request!.Value.FirstChunk, timeout).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
            // A request or send timeout, a client that went away, a relayed blob abandoned, or the server stopping: drop the connection.
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

    /// <summary>
    /// Reads and parses the one request of a connection: Closed when the client hung up before sending it all, else the
    /// request, or null when it is malformed (answered <see cref="WeightStatus.BadRequest"/>). All request parsing is here
    /// and in <see cref="WeightWire.ReadRequest"/>.
    /// </summary>
    private async Task<(bool Closed, WireRequest? Request)> ReadRequestAsync(Stream stream, Socket client, CancellationToken cancellationToken)
    {
        var request = new byte[WeightWire.RequestBytes];
        for (var read = 0; read < request.Length;)
        {
            var n = await stream.ReadAsync(request.AsMemory(read), cancellationToken).ConfigureAwait(false);
            if (n == 0) return (true, null);
            read += n;
            // A foreign or older client's request may be shorter than ours: reject it on its first bytes, not after a timeout.
            if (read >= WeightWire.RequestPrefixBytes && !WeightWire.IsRequestPrefix(request)) return (false, null);
        }
        // More bytes than a request is malformed too; under TLS the socket's count includes record overhead, so it is not asked.
        var nothingMore = _options.Certificate is not null || client.Available == 0;
        return (false, nothingMore ? WeightWire.ReadRequest(request) : null);
    }

    private async Task SendChunksAsync(Stream client, ServedBlob blob, int firstChunk, CancellationTokenSource timeout)
    {
        for (var i = firstChunk; i < blob.Chunks; i++)
        {
            await blob.WaitVerifiedAsync(i, _stop.Token).ConfigureAwait(false);
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
            Interlocked.Add(ref _blobBytesSent, chunk.Length);
        }
    }

    private async ValueTask SendAsync(Stream client, ReadOnlyMemory<byte> bytes, CancellationTokenSource timeout)
    {
        while (!bytes.IsEmpty)
        {
            var slice = _limiter is null ? bytes : bytes[..Math.Min(bytes.Length, PacedSliceBytes)];
            if (_limiter is not null) await _limiter.AcquireAsync(slice.Length, timeout.Token).ConfigureAwait(false);
            timeout.CancelAfter(_options.SendTimeout);
            await client.WriteAsync(slice, timeout.Token).ConfigureAwait(false);
            bytes = bytes[slice.Length..];
        }
    }

    /// <summary>The answer to <paramref name="request"/>, waiting up to <see cref="WeightServerOptions.AwaitVersion"/> for a version not held yet.</summary>
    private async Task<(WireHeader Header, ServedBlob? Blob)> LookupAsync(WireRequest? request, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + _options.AwaitVersion;
        while (true)
        {
            Task added;
            lock (_gate)
            {
                var newest = _blobs.Count == 0 ? -1 : _blobs[^1].Version;
                if (request is not { } r) return (new WireHeader(WeightStatus.BadRequest, newest, 0, 0, NoDigest), null);
                var blob = r.Version == -1 ? _blobs.LastOrDefault() : _blobs.Find(b => b.Version == r.Version);
                if (blob is not null)
                {
                    return r.FirstChunk > blob.Chunks
                        ? (new WireHeader(WeightStatus.BadRequest, newest, 0, 0, NoDigest), null)
                        : (new WireHeader(WeightStatus.Ok, blob.Version, blob.Bytes.Length, blob.ChunkBytes, blob.Digest), blob);
                }
                var evicted = _blobs.Count > 0 && r.Version != -1 && r.Version < _blobs[0].Version;
                var wait = deadline - DateTime.UtcNow;
                if (evicted || wait <= TimeSpan.Zero)
                    return (new WireHeader(evicted ? WeightStatus.Evicted : WeightStatus.NotPublished, newest, 0, 0, NoDigest), null);
                added = _added.Task;
            }
            try
            {
                await added.WaitAsync(deadline - DateTime.UtcNow, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Look once more, then answer NotPublished.
            }
        }
    }
}
