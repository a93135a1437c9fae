using System.Buffers.Binary;
using System.Security.Cryptography;

namespace RoRecomp.Weights;

/// <summary>
/// The byte layout of the weight-transfer protocol (see <see cref="WeightServer"/> for the exchange). Every integer
/// is little-endian.
/// </summary>
internal static class WeightWire
{
    /// <summary>"RRWT" read as a little-endian uint32; opens both the request and the response header.</summary>
    public const uint Magic = 0x54575252;

    /// <summary>
    /// The protocol version this code speaks (2: chunk-hash manifest, resumable requests, and a credential in each request).
    /// </summary>
    public const ushort ProtocolVersion = 2;

    /// <summary>What every request starts with: magic u32, protocol u16; enough to reject a foreign one (garbage) at once.</summary>
    public const int RequestPrefixBytes = 6;

    /// <summary>Bytes of the credential (<see cref="WeightServer.Credential"/>).</summary>
    public const int CredentialBytes = 32;

    /// <summary>Request: magic u32, protocol u16, wanted version i64 (-1 = newest), first chunk wanted i32, credential (32 bytes).</summary>
    public const int RequestBytes = 18 + CredentialBytes;

    /// <summary>Response header: magic u32, protocol u16, status u16, version i64, length i64, chunk bytes i32, manifest digest (32 bytes).</summary>
    public const int HeaderBytes = 60;

    /// <summary>Bytes of one chunk hash in the manifest (SHA-256).</summary>
    public const int ChunkHashBytes = 32;

    public static void WriteRequest(Span<byte> destination, long version, int firstChunk, ReadOnlySpan<byte> credential)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], ProtocolVersion);
        BinaryPrimitives.WriteInt64LittleEndian(destination[6..], version);
        BinaryPrimitives.WriteInt32LittleEndian(destination[14..], firstChunk);
        destination[18..RequestBytes].Clear();
        credential[..Math.Min(credential.Length, CredentialBytes)].CopyTo(destination[18..]);
    }

    /// <summary>Whether the first <see cref="RequestPrefixBytes"/> bytes open a request this code understands.</summary>
    public static bool IsRequestPrefix(ReadOnlySpan<byte> source) =>
        BinaryPrimitives.ReadUInt32LittleEndian(source) == Magic && BinaryPrimitives.ReadUInt16LittleEndian(source[4..]) == ProtocolVersion;

    /// <summary>The request in <paramref name="source"/> (<see cref="RequestBytes"/> long) when well-formed, else null.</summary>
    public static WireRequest? ReadRequest(ReadOnlySpan<byte> source)
    {
        if (!IsRequestPrefix(source)) return null;
        var version = BinaryPrimitives.ReadInt64LittleEndian(source[6..]);
        var firstChunk = BinaryPrimitives.ReadInt32LittleEndian(source[14..]);
        return version >= -1 && firstChunk >= 0 ? new WireRequest(version, firstChunk, source[18..RequestBytes].ToArray()) : null;
    }

    public static void WriteHeader(Span<byte> destination, in WireHeader header)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], ProtocolVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], (ushort)header.Status);
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], header.Version);
        BinaryPrimitives.WriteInt64LittleEndian(destination[16..], header.Length);
        BinaryPrimitives.WriteInt32LittleEndian(destination[24..], header.ChunkBytes);
        header.Digest.Span.CopyTo(destination[28..HeaderBytes]);
    }

    /// <summary>The header in <paramref name="source"/>, or null when its magic or protocol version is not ours.</summary>
    public static WireHeader? ReadHeader(ReadOnlySpan<byte> source)
    {
        if (BinaryPrimitives.ReadUInt32LittleEndian(source) != Magic) return null;
        if (BinaryPrimitives.ReadUInt16LittleEndian(source[4..]) != ProtocolVersion) return null;
        return new WireHeader(
            (WeightStatus)BinaryPrimitives.ReadUInt16LittleEndian(source[6..]),
            BinaryPrimitives.ReadInt64LittleEndian(source[8..]),
            BinaryPrimitives.ReadInt64LittleEndian(source[16..]),
            BinaryPrimitives.ReadInt32LittleEndian(source[24..]),
            source[28..HeaderBytes].ToArray());
    }

    /// <summary>Chunks of a blob of <paramref name="length"/> bytes cut into <paramref name="chunkBytes"/>-byte chunks.</summary>
    public static int ChunkCount(long length, int chunkBytes) => (int)((length + chunkBytes - 1) / chunkBytes);

    /// <summary>
    /// The digest that names a blob: SHA-256 of (length i64, chunk bytes i32, then every chunk's SHA-256 in order). It binds
    /// the bytes through the chunk hashes, so a client checks the manifest once and each chunk on its own, in parallel.
    /// </summary>
    public static byte[] ManifestDigest(long length, int chunkBytes, ReadOnlySpan<byte> chunkHashes)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> prefix = stackalloc byte[12];
        BinaryPrimitives.WriteInt64LittleEndian(prefix, length);
        BinaryPrimitives.WriteInt32LittleEndian(prefix[8..], chunkBytes);
        sha.AppendData(prefix);
        sha.AppendData(chunkHashes);
        return sha.GetHashAndReset();
    }
}
