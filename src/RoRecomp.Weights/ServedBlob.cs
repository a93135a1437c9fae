using System.IO.Hashing;
using System.Security.Cryptography;

namespace RoRecomp.Weights;

/// <summary>A published blob as the server keeps it: its chunk checksums and SHA-256 are computed once, at publish.</summary>
internal sealed class ServedBlob
{
    private ServedBlob(long version, byte[] bytes, int chunkBytes, ulong[] chunkChecksums, byte[] sha256)
    {
        Version = version;
        Bytes = bytes;
        ChunkBytes = chunkBytes;
        ChunkChecksums = chunkChecksums;
        Sha256 = sha256;
        Info = new PublishedWeights(version, bytes.Length, Convert.ToHexStringLower(sha256));
    }

    public long Version { get; }

    public byte[] Bytes { get; }

    public int ChunkBytes { get; }

    /// <summary>XxHash3 (seed 0) of each chunk, in order.</summary>
    public ulong[] ChunkChecksums { get; }

    public byte[] Sha256 { get; }

    public PublishedWeights Info { get; }

    public static ServedBlob Create(long version, byte[] bytes, int chunkBytes)
    {
        var checksums = new ulong[(bytes.Length + chunkBytes - 1) / chunkBytes];
        for (var i = 0; i < checksums.Length; i++) checksums[i] = XxHash3.HashToUInt64(Chunk(bytes, chunkBytes, i).Span);
        return new ServedBlob(version, bytes, chunkBytes, checksums, SHA256.HashData(bytes));
    }

    /// <summary>The bytes of chunk <paramref name="index"/>.</summary>
    public ReadOnlyMemory<byte> Chunk(int index) => Chunk(Bytes, ChunkBytes, index);

    private static ReadOnlyMemory<byte> Chunk(byte[] bytes, int chunkBytes, int index)
    {
        var start = (long)index * chunkBytes;
        return bytes.AsMemory((int)start, (int)Math.Min(chunkBytes, bytes.Length - start));
    }
}
