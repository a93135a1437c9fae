using SerializationException = System.Runtime.Serialization.SerializationException;
using Akka.Actor;
using Akka.Serialization;

namespace RoRecomp.Actors.Serialization;

/// <summary>
/// The one serializer that owns the wire and journal format of RoRecomp's messages; every type it handles is registered
/// once in <see cref="MessageCodecs"/> (manifest, type version, fields). Layout of format 2: the byte 2, the type
/// version (varint), the body length (varint), then the body as tagged fields (protobuf wire format: field number and
/// wire kind, then the value), so reordering, adding or removing fields can never shift another field's bytes; token
/// ids, log-probs, masks and weights stay raw little-endian arrays. Bodies of format 1 (positional, written before
/// format 2) are still read for the journaled and snapshotted types, so existing journals recover.
/// </summary>
public sealed class RoRecompSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>Serializer id (must be unique in the actor system; Akka reserves 0-100).</summary>
    public const int Id = 5271;

    /// <summary>Format version written as the first byte: 2, tagged fields.</summary>
    public const byte FormatVersion = 2;

    /// <summary>The retired positional format, still read for journaled types.</summary>
    public const byte PositionalFormatVersion = 1;

    /// <inheritdoc />
    public override int Identifier => Id;

    /// <inheritdoc />
    public override string Manifest(object o) => Codec(o).Manifest;

    /// <inheritdoc />
    public override byte[] ToBinary(object obj)
    {
        var codec = Codec(obj);
        var w = new TaggedWriter();
        w.RawByte(FormatVersion);
        w.RawVarint((ulong)codec.Version);
        w.LengthPrefixed(obj, codec.Write);
        return w.ToArray();
    }

    /// <summary>
    /// Bytes of RoRecomp messages this process has deserialized: what reached it through Akka.Remote, plus journal and
    /// snapshot reads on recovery (none on a fresh run). Read by <c>bench coordination</c>.
    /// </summary>
    public static long BytesRead => Interlocked.Read(ref _bytesRead);

    private static long _bytesRead;

    /// <inheritdoc />
    public override object FromBinary(byte[] bytes, string manifest)
    {
        Interlocked.Add(ref _bytesRead, bytes.Length);
        if (!MessageCodecs.ByManifest.TryGetValue(manifest, out var codec))
            throw new SerializationException($"{nameof(RoRecompSerializer)}: unknown manifest '{manifest}'");
        if (bytes.Length == 0)
            throw new SerializationException($"{nameof(RoRecompSerializer)}: manifest '{manifest}': empty message (truncated)");
        return bytes[0] switch
        {
            FormatVersion => ReadTagged(codec, bytes),
            PositionalFormatVersion when codec.ReadsV1 => ReadPositional(codec, bytes),
            var v => throw new SerializationException(
                $"{nameof(RoRecompSerializer)}: format version {v} of manifest '{manifest}' is not supported (this build reads {FormatVersion}"
                + (codec.ReadsV1 ? $" and {PositionalFormatVersion})" : ")")),
        };
    }

    private static Codec Codec(object o) => MessageCodecs.ByType.TryGetValue(o.GetType(), out var codec)
        ? codec
        : throw new ArgumentException($"{nameof(RoRecompSerializer)} cannot serialize {o.GetType().FullName}: register it in {nameof(MessageCodecs)}", nameof(o));

    private static object ReadTagged(Codec codec, byte[] bytes)
    {
        var position = 1;
        var version = Envelope(codec, bytes, ref position, "type version");
        if (version < 1 || version > (ulong)codec.Version)
            throw new SerializationException(
                $"{nameof(RoRecompSerializer)}: manifest '{codec.Manifest}' has type version {version}; this build reads 1 to {codec.Version} (written by a newer build?)");
        var length = Envelope(codec, bytes, ref position, "body length");
        if (length != (ulong)(bytes.Length - position))
            throw new SerializationException(
                $"{nameof(RoRecompSerializer)}: manifest '{codec.Manifest}': body of {length} bytes but {bytes.Length - position} follow ({(length > (ulong)(bytes.Length - position) ? "truncated" : "trailing bytes")})");
        return codec.Read(new TaggedReader(bytes, position, (int)length, codec.Manifest, (int)version));
    }

    private static ulong Envelope(Codec codec, byte[] bytes, ref int position, string what) =>
        TaggedReader.TryVarint(bytes, ref position, bytes.Length, out var value)
            ? value
            : throw new SerializationException($"{nameof(RoRecompSerializer)}: manifest '{codec.Manifest}': truncated or bad {what} at offset {position}");

    private static object ReadPositional(Codec codec, byte[] bytes)
    {
        var r = new V1Reader(bytes, codec.Manifest);
        var result = codec.ReadV1(r);
        if (!r.AtEnd)
            throw new SerializationException($"{nameof(RoRecompSerializer)}: manifest '{codec.Manifest}' (format 1): {bytes.Length - r.Position} trailing bytes");
        return result;
    }
}
