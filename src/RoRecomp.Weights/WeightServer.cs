using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

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
/// <item><description>Client to server, exactly 18 bytes: magic <c>"RRWT"</c> (u32 0x54575252), protocol version
/// (u16, 2), wanted version (i64; -1 = the newest), first chunk wanted (i32; 0 = all, more to resume a fetch).</description></item>
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
/// or longer than 18 bytes is answered <see cref="WeightStatus.BadRequest"/> and the connection closed; one that is not
/// complete within <see cref="WeightServerOptions.RequestTimeout"/> is dropped. The server reads nothing else from the
/// network: no request names a file or selects code. Chunk hashes are computed once, at publish; a relayed blob
/// (<see cref="Relay"/>) carries the manifest it was fetched with, and its chunks go out only once verified.</para>
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
            var (closed, request) = await ReadRequestAsync(client, timeout.Token).ConfigureAwait(false);
            if (closed) return;
            var (header, blob) = await LookupAsync(request, timeout.Token).ConfigureAwait(false);
            var headerBytes = new byte[WeightWire.HeaderBytes];
            WeightWire.WriteHeader(headerBytes, header);
            await SendAsync(client, headerBytes, timeout).ConfigureAwait(false);
            if (blob is null) return;
            await SendAsync(client, blob.ChunkHashes, timeout).ConfigureAwait(false);
            await SendChunksAsync(client, blob, request!.Value.FirstChunk, timeout).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
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
    /// Reads and parses the one request of a connection: Closed when the client hung up before sending it all, else the
    /// request, or null when it is malformed (answered <see cref="WeightStatus.BadRequest"/>). All request parsing is here
    /// and in <see cref="WeightWire.ReadRequest"/>.
    /// </summary>
    private static async Task<(bool Closed, WireRequest? Request)> ReadRequestAsync(Socket client, CancellationToken cancellationToken)
    {
        var request = new byte[WeightWire.RequestBytes];
        for (var read = 0; read < request.Length;)
        {
            var n = await client.ReceiveAsync(request.AsMemory(read), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0) return (true, null);
            read += n;
            // A foreign or older client's request may be shorter than ours: reject it on its first bytes, not after a timeout.
            if (read >= WeightWire.RequestPrefixBytes && !WeightWire.IsRequestPrefix(request)) return (false, null);
        }
        return (false, client.Available == 0 ? WeightWire.ReadRequest(request) : null);
    }

    private async Task SendChunksAsync(Socket client, ServedBlob blob, int firstChunk, CancellationTokenSource timeout)
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

    private async ValueTask SendAsync(Socket client, ReadOnlyMemory<byte> bytes, CancellationTokenSource timeout)
    {
        while (!bytes.IsEmpty)
        {
            var slice = _limiter is null ? bytes : bytes[..Math.Min(bytes.Length, PacedSliceBytes)];
            if (_limiter is not null) await _limiter.AcquireAsync(slice.Length, timeout.Token).ConfigureAwait(false);
            timeout.CancelAfter(_options.SendTimeout);
            while (!slice.IsEmpty)
            {
                var n = await client.SendAsync(slice, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                slice = slice[n..];
                bytes = bytes[n..];
            }
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
