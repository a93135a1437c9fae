using System.Security.Cryptography;

namespace RoRecomp.Weights;

/// <summary>
/// A blob as a server keeps it: the bytes, the manifest (every chunk's SHA-256) and its digest. A published blob is whole
/// from the start; a relayed one (<see cref="WeightServer.Relay"/>) fills while its holder fetches it, and the server
/// sends chunk i as soon as the holder has verified chunks 0..i (<see cref="MarkVerified"/>), so a chain of relays is
/// pipelined chunk by chunk.
/// </summary>
internal sealed class ServedBlob
{
    private readonly Lock _gate = new();
    private readonly bool[] _verified;
    private int _prefix; // chunks 0.._prefix-1 are verified and never written again
    private bool _aborted;
    private TaskCompletionSource _progress = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ServedBlob(long version, byte[] bytes, int chunkBytes, byte[] chunkHashes, byte[] digest, bool complete)
    {
        Version = version;
        Bytes = bytes;
        ChunkBytes = chunkBytes;
        ChunkHashes = chunkHashes;
        Digest = digest;
        Chunks = WeightWire.ChunkCount(bytes.Length, chunkBytes);
        _verified = new bool[Chunks];
        if (complete)
        {
            Array.Fill(_verified, true);
            _prefix = Chunks;
        }
        Info = new PublishedWeights(version, bytes.Length, Convert.ToHexStringLower(digest), chunkBytes);
    }

    public long Version { get; }

    public byte[] Bytes { get; }

    public int ChunkBytes { get; }

    public int Chunks { get; }

    /// <summary>The manifest: SHA-256 of each chunk, in order (32 bytes each).</summary>
    public byte[] ChunkHashes { get; }

    public byte[] Digest { get; }

    public PublishedWeights Info { get; }

    /// <summary>Chunks 0..n-1 are verified (all of them for a published blob).</summary>
    public int VerifiedPrefix
    {
        get
        {
            lock (_gate) return _prefix;
        }
    }

    /// <summary>Hashes the chunks of <paramref name="bytes"/> (in parallel, one chunk per task) and wraps them, whole.</summary>
    public static ServedBlob Create(long version, byte[] bytes, int chunkBytes)
    {
        var chunks = WeightWire.ChunkCount(bytes.Length, chunkBytes);
        var hashes = new byte[chunks * WeightWire.ChunkHashBytes];
        Parallel.For(0, chunks, i => SHA256.HashData(ChunkOf(bytes, chunkBytes, i).Span, hashes.AsSpan(i * WeightWire.ChunkHashBytes, WeightWire.ChunkHashBytes)));
        return new ServedBlob(version, bytes, chunkBytes, hashes, WeightWire.ManifestDigest(bytes.Length, chunkBytes, hashes), complete: true);
    }

    /// <summary>The bytes of chunk <paramref name="index"/>.</summary>
    public ReadOnlyMemory<byte> Chunk(int index) => ChunkOf(Bytes, ChunkBytes, index);

    /// <summary>Where chunk <paramref name="index"/> is written while the blob is fetched.</summary>
    public Memory<byte> ChunkToFill(int index) => ChunkOf(Bytes, ChunkBytes, index);

    /// <summary>The manifest hash of chunk <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> ChunkHash(int index) => ChunkHashes.AsSpan(index * WeightWire.ChunkHashBytes, WeightWire.ChunkHashBytes);

    /// <summary>Records that chunk <paramref name="index"/> matched its hash; wakes senders waiting for it once the prefix reaches it.</summary>
    public void MarkVerified(int index)
    {
        TaskCompletionSource? wake = null;
        lock (_gate)
        {
            _verified[index] = true;
            var before = _prefix;
            while (_prefix < Chunks && _verified[_prefix]) _prefix++;
            if (_prefix != before) (wake, _progress) = (_progress, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        }
        wake?.TrySetResult();
    }

    /// <summary>Forgets verified chunks past the prefix: the next fetch attempt writes them again from the prefix on.</summary>
    public void ForgetPastPrefix()
    {
        lock (_gate) Array.Fill(_verified, false, _prefix, Chunks - _prefix);
    }

    /// <summary>The holder gave up on the blob: senders waiting for a chunk fail and drop their connection.</summary>
    public void Abort()
    {
        TaskCompletionSource wake;
        lock (_gate)
        {
            _aborted = true;
            wake = _progress;
        }
        wake.TrySetResult();
    }

    /// <summary>Waits until chunk <paramref name="index"/> is verified; throws <see cref="OperationCanceledException"/> when the blob was aborted.</summary>
    public async ValueTask WaitVerifiedAsync(int index, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (index < _prefix) return;
                if (_aborted) throw new OperationCanceledException($"version {Version} was abandoned by its holder");
                wait = _progress.Task;
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static Memory<byte> ChunkOf(byte[] bytes, int chunkBytes, int index)
    {
        var start = (long)index * chunkBytes;
        return bytes.AsMemory((int)start, (int)Math.Min(chunkBytes, bytes.Length - start));
    }
}
