using SerializationException = System.Runtime.Serialization.SerializationException;
using Akka.Actor;
using Akka.Serialization;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Replay;

namespace RoRecomp.Actors.Serialization;

/// <summary>
/// The one serializer that owns the wire and journal format of RoRecomp's messages; every type it handles is registered
/// once in <see cref="MessageCodecs"/> (manifest, type version, fields). Layout of format 2: the byte 2, the type
/// version (varint), the body length (varint), then the body as tagged fields (protobuf wire format: field number and
/// wire kind, then the value), so reordering, adding or removing fields can never shift another field's bytes; token
/// ids, log-probs, masks and weights stay raw little-endian arrays. Bodies of format 1 (positional, written before
/// format 2) are still read for the journaled and snapshotted types, so existing journals recover.
/// <para>
/// Messages between nodes: Akka.Remote drops a message larger than <see cref="FrameSizeKey"/> (logging only its byte
/// count) and a receiver with a smaller limit than its sender closes the connection. Messages of the protocol are
/// serialized only to cross nodes (journal events and snapshots are other types), so one over the limit fails here, in
/// the sending node, with an error that names the message, its size, the setting and the value it needs; Akka.Remote
/// logs it and keeps the association. Rollouts grow with response length: set the limit on every node (hocon/cluster.conf).
/// </para>
/// </summary>
public sealed class RoRecompSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>The Akka.Remote setting that caps one message between nodes.</summary>
    public const string FrameSizeKey = "akka.remote.dot-netty.tcp.maximum-frame-size";

    // The limit of this node's transport (0 when it has no remoting); Akka.Remote's own framing needs some bytes.
    private readonly long _frameLimit = system.Settings.Config.HasPath(FrameSizeKey)
        && (system.Settings.ProviderClass.Contains("Remote", StringComparison.Ordinal) || system.Settings.ProviderClass.Contains("Cluster", StringComparison.Ordinal))
        ? system.Settings.Config.GetByteSize(FrameSizeKey) ?? 0
        : 0;

    /// <summary>Bytes reserved for Akka.Remote's envelope (recipient and sender paths, manifest) inside one frame.</summary>
    public const int EnvelopeReserve = 4096;

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
        var w = new TaggedWriter(SizeHint(obj));
        w.RawByte(FormatVersion);
        w.RawVarint((ulong)codec.Version);
        w.LengthPrefixed(obj, codec.Write);
        var bytes = w.ToArray();
        if (_frameLimit > 0 && bytes.Length > _frameLimit - EnvelopeReserve && obj is not (IReplayBufferEvent or ReplayBufferSnapshot or IRunEvent or Protocols.ResponsesStoredApart or Protocols.ReplayBufferSnapshotApart))
            throw new SerializationException(TooLarge(obj, bytes.Length, _frameLimit));
        return bytes;
    }

    // Messages that carry responses are sized up front (raw arrays + a generous allowance per response for ids and
    // scalars), so a snapshot of a full buffer of long responses is written into one buffer instead of growing through
    // copies of up to twice its size; the slack is cut by one copy at the end.
    private static int SizeHint(object o) => (int)Math.Min(System.Array.MaxLength, o switch
    {
        ReplayBufferSnapshot s => Bytes(s.Entries) + (s.RecentDraws.IsDefault ? 0 : s.RecentDraws.Sum(d => Bytes(d.Responses))) + 64L * (s.RecentlySeenIds.IsDefault ? 0 : s.RecentlySeenIds.Length),
        ResponsesStored e => Bytes(e.Responses),
        StoreResponses c => Bytes(c.Responses),
        CompensationDrawn d => Bytes(d.Responses),
        _ => 256,
    });

    private static long Bytes(System.Collections.Immutable.ImmutableArray<Core.Rollouts.Response> responses) =>
        responses.IsDefault ? 0 : responses.Sum(r => 4L * (Length(r.PromptTokens) + Length(r.Tokens) + Length(r.LogProbs))
            + Length(r.ActionMask) + 2L * ((r.Id?.Length ?? 0) + (r.PromptId?.Length ?? 0)) + 128);

    private static int Length<T>(System.Collections.Immutable.ImmutableArray<T> a) => a.IsDefault ? 0 : a.Length;

    /// <summary>The error for a message of <paramref name="bytes"/> over a frame limit of <paramref name="limit"/> bytes.</summary>
    public static string TooLarge(object message, long bytes, long limit) =>
        $"{message.GetType().Name} is {bytes:N0} bytes, over {FrameSizeKey} = {limit:N0} bytes (less {EnvelopeReserve:N0} for Akka.Remote's envelope), "
        + $"so it cannot travel to another node. Set {FrameSizeKey} to at least {bytes + EnvelopeReserve:N0}b on every node "
        + "(hocon/cluster.conf; a receiver with a lower limit drops the connection), or make the message smaller "
        + "(rorecomp.sampling.lease-size, rorecomp.sampling.max-new-tokens, rorecomp.compensation.batch-size).";
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
