using System.Buffers.Binary;

namespace RoRecomp.Weights;

/// <summary>
/// The byte layout of the weight-transfer protocol (see <see cref="WeightServer"/> for the exchange). Every integer
/// is little-endian.
/// </summary>
internal static class WeightWire
{
    /// <summary>"RRWT" read as a little-endian uint32; opens both the request and the response header.</summary>
    public const uint Magic = 0x54575252;

    /// <summary>The protocol version this code speaks (2: the request carries the server's credential).</summary>
    public const ushort ProtocolVersion = 2;

    /// <summary>Request: magic u32, protocol u16, wanted version i64 (-1 = newest), credential (32 bytes).</summary>
    public const int RequestBytes = 46;

    /// <summary>The request's magic and protocol version: checked before the rest is read, so garbage is answered at once.</summary>
    public const int RequestPrefixBytes = 6;

    /// <summary>Bytes of the credential (<see cref="WeightServer.Credential"/>).</summary>
    public const int CredentialBytes = 32;

    /// <summary>Response header: magic u32, protocol u16, status u16, version i64, length i64, chunk bytes i32, SHA-256 (32 bytes).</summary>
    public const int HeaderBytes = 60;

    /// <summary>Each chunk is followed by its XxHash3 (seed 0) as a u64.</summary>
    public const int ChecksumBytes = 8;

    public static void WriteRequest(Span<byte> destination, long version, ReadOnlySpan<byte> credential)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], ProtocolVersion);
        BinaryPrimitives.WriteInt64LittleEndian(destination[6..], version);
        destination[14..RequestBytes].Clear();
        credential[..Math.Min(credential.Length, CredentialBytes)].CopyTo(destination[14..]);
    }

    /// <summary>Whether a request opens with our magic and protocol version (its first <see cref="RequestPrefixBytes"/>).</summary>
    public static bool IsRequestPrefix(ReadOnlySpan<byte> source) =>
        BinaryPrimitives.ReadUInt32LittleEndian(source) == Magic && BinaryPrimitives.ReadUInt16LittleEndian(source[4..]) == ProtocolVersion;

    /// <summary>The credential a request carries.</summary>
    public static ReadOnlySpan<byte> RequestCredential(ReadOnlySpan<byte> request) => request[14..RequestBytes];

    /// <summary>The wanted version of a well-formed request, else null.</summary>
    public static long? ReadRequest(ReadOnlySpan<byte> source)
    {
        if (!IsRequestPrefix(source)) return null;
        var version = BinaryPrimitives.ReadInt64LittleEndian(source[6..]);
        return version >= -1 ? version : null;
    }

    public static void WriteHeader(Span<byte> destination, in WireHeader header)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], ProtocolVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], (ushort)header.Status);
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], header.Version);
        BinaryPrimitives.WriteInt64LittleEndian(destination[16..], header.Length);
        BinaryPrimitives.WriteInt32LittleEndian(destination[24..], header.ChunkBytes);
        header.Sha256.Span.CopyTo(destination[28..HeaderBytes]);
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
}
