using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Text;
using SerializationException = System.Runtime.Serialization.SerializationException;
using Akka.Actor;
using Akka.Serialization;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Actors.Serialization;

/// <summary>
/// The one serializer that owns the wire and journal format of RoRecomp's messages. Layout: a version byte, then the
/// fields in declaration order; strings as UTF-8 with a length prefix, token ids / log-probs / masks as raw
/// little-endian arrays with an int32 length (-1 for a default array). One short manifest per type.
/// </summary>
public sealed class RoRecompSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>Serializer id (must be unique in the actor system; Akka reserves 0-100).</summary>
    public const int Id = 5271;

    /// <summary>Current format version written as the first byte.</summary>
    public const byte FormatVersion = 1;

    private const string ResponseManifest = "R";
    private const string StoreManifest = "SR";
    private const string DrawManifest = "DCB";
    private const string EvictManifest = "ES";
    private const string StoredEventManifest = "E-ST";
    private const string DrawnEventManifest = "E-DR";
    private const string EvictedEventManifest = "E-EV";
    private const string AcceptedManifest = "RA";
    private const string DrawnManifest = "CD";
    private const string NotEnoughManifest = "NE";
    private const string StaleEvictedManifest = "SEV";
    private const string SnapshotManifest = "S-RB";
    private const string GetStatsManifest = "GBS";
    private const string StatsManifest = "BS";

    /// <inheritdoc />
    public override int Identifier => Id;

    /// <inheritdoc />
    public override string Manifest(object o) => o switch
    {
        Response => ResponseManifest,
        StoreResponses => StoreManifest,
        DrawCompensationBatch => DrawManifest,
        EvictStale => EvictManifest,
        ResponsesStored => StoredEventManifest,
        ResponsesDrawn => DrawnEventManifest,
        ResponsesEvicted => EvictedEventManifest,
        ResponsesAccepted => AcceptedManifest,
        CompensationDrawn => DrawnManifest,
        NotEnoughBuffered => NotEnoughManifest,
        StaleEvicted => StaleEvictedManifest,
        ReplayBufferSnapshot => SnapshotManifest,
        GetBufferStats => GetStatsManifest,
        BufferStats => StatsManifest,
        _ => throw new ArgumentException($"{nameof(RoRecompSerializer)} cannot serialize {o.GetType().FullName}", nameof(o)),
    };

    /// <inheritdoc />
    public override byte[] ToBinary(object obj)
    {
        var w = new Writer();
        w.Byte(FormatVersion);
        switch (obj)
        {
            case Response r: w.Response(r); break;
            case StoreResponses m: w.Responses(m.Responses); break;
            case DrawCompensationBatch m: w.Int(m.Size); w.Long(m.CurrentPolicyVersion); w.Long(m.Step); break;
            case EvictStale m: w.Long(m.CurrentPolicyVersion); break;
            case ResponsesStored e: w.Responses(e.Responses); break;
            case ResponsesDrawn e: w.Strings(e.Ids); w.Long(e.Step); break;
            case ResponsesEvicted e: w.Strings(e.Ids); w.Byte((byte)e.Reason); break;
            case ResponsesAccepted m: w.Int(m.Stored); w.Int(m.Duplicates); w.Int(m.Evicted); break;
            case CompensationDrawn m: w.Responses(m.Responses); w.Int(m.EvictedStale); break;
            case NotEnoughBuffered m: w.Int(m.Available); w.Int(m.Requested); w.Int(m.EvictedStale); break;
            case StaleEvicted m: w.Int(m.Count); break;
            case ReplayBufferSnapshot s: w.Responses(s.Entries); w.Long(s.DrawCount); w.Strings(s.RecentlySeenIds); break;
            case GetBufferStats: break;
            case BufferStats m: w.Int(m.Count); w.Strings(m.Ids); w.Long(m.LastSequenceNr); break;
            default: throw new ArgumentException($"{nameof(RoRecompSerializer)} cannot serialize {obj.GetType().FullName}", nameof(obj));
        }
        return w.ToArray();
    }

    /// <inheritdoc />
    public override object FromBinary(byte[] bytes, string manifest)
    {
        var r = new Reader(bytes);
        var version = r.Byte();
        if (version != FormatVersion)
            throw new SerializationException($"{nameof(RoRecompSerializer)}: format version {version} of manifest '{manifest}' is not supported (this build reads {FormatVersion})");
        object result = manifest switch
        {
            ResponseManifest => r.Response(),
            StoreManifest => new StoreResponses(r.Responses()),
            DrawManifest => new DrawCompensationBatch(r.Int(), r.Long(), r.Long()),
            EvictManifest => new EvictStale(r.Long()),
            StoredEventManifest => new ResponsesStored(r.Responses()),
            DrawnEventManifest => new ResponsesDrawn(r.Strings(), r.Long()),
            EvictedEventManifest => new ResponsesEvicted(r.Strings(), r.Reason()),
            AcceptedManifest => new ResponsesAccepted(r.Int(), r.Int(), r.Int()),
            DrawnManifest => new CompensationDrawn(r.Responses(), r.Int()),
            NotEnoughManifest => new NotEnoughBuffered(r.Int(), r.Int(), r.Int()),
            StaleEvictedManifest => new StaleEvicted(r.Int()),
            SnapshotManifest => new ReplayBufferSnapshot(r.Responses(), r.Long(), r.Strings()),
            GetStatsManifest => GetBufferStats.Instance,
            StatsManifest => new BufferStats(r.Int(), r.Strings(), r.Long()),
            _ => throw new SerializationException($"{nameof(RoRecompSerializer)}: unknown manifest '{manifest}'"),
        };
        if (!r.AtEnd)
            throw new SerializationException($"{nameof(RoRecompSerializer)}: {bytes.Length - r.Position} trailing bytes after manifest '{manifest}'");
        return result;
    }

    private sealed class Writer
    {
        private readonly MemoryStream _stream = new();
        private readonly byte[] _scratch = new byte[8];

        public byte[] ToArray() => _stream.ToArray();

        public void Byte(byte b) => _stream.WriteByte(b);

        public void Bool(bool b) => _stream.WriteByte(b ? (byte)1 : (byte)0);

        public void Int(int v)
        {
            BinaryPrimitives.WriteInt32LittleEndian(_scratch, v);
            _stream.Write(_scratch, 0, 4);
        }

        public void Long(long v)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_scratch, v);
            _stream.Write(_scratch, 0, 8);
        }

        public void Double(double v)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(_scratch, v);
            _stream.Write(_scratch, 0, 8);
        }

        public void String(string s)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            Int(bytes.Length);
            _stream.Write(bytes);
        }

        public void Strings(ImmutableArray<string> items)
        {
            Int(items.IsDefault ? -1 : items.Length);
            if (!items.IsDefault)
                foreach (var s in items)
                    String(s);
        }

        public void Array<T>(ImmutableArray<T> items)
            where T : unmanaged
        {
            Int(items.IsDefault ? -1 : items.Length);
            if (items.IsDefaultOrEmpty)
                return;
            var bytes = MemoryMarshal.AsBytes(items.AsSpan());
            if (BitConverter.IsLittleEndian || bytes.Length == items.Length)
            {
                _stream.Write(bytes);
                return;
            }
            throw new PlatformNotSupportedException("RoRecompSerializer writes raw little-endian arrays; big-endian hosts are not supported");
        }

        public void Response(Response r)
        {
            String(r.Id);
            String(r.PromptId);
            Int(r.SampleIndex);
            Long(r.Step);
            Long(r.PolicyVersion);
            Array(r.PromptTokens);
            Array(r.Tokens);
            Array(r.LogProbs);
            Double(r.Reward);
            Bool(r.Correct);
            Int(r.ToolCalls);
            Bool(r.FormatValid);
            Array(r.ActionMask);
        }

        public void Responses(ImmutableArray<Response> items)
        {
            Int(items.IsDefault ? -1 : items.Length);
            if (!items.IsDefault)
                foreach (var r in items)
                    Response(r);
        }
    }

    private sealed class Reader(byte[] bytes)
    {
        public int Position { get; private set; }

        public bool AtEnd => Position == bytes.Length;

        private ReadOnlySpan<byte> Take(int n)
        {
            if (n < 0 || Position + n > bytes.Length)
                throw new SerializationException($"{nameof(RoRecompSerializer)}: truncated message ({n} bytes wanted at offset {Position} of {bytes.Length})");
            var span = bytes.AsSpan(Position, n);
            Position += n;
            return span;
        }

        public byte Byte() => Take(1)[0];

        public bool Bool() => Byte() != 0;

        public EvictionReason Reason()
        {
            var b = Byte();
            return Enum.IsDefined(typeof(EvictionReason), (int)b)
                ? (EvictionReason)b
                : throw new SerializationException($"{nameof(RoRecompSerializer)}: unknown eviction reason {b}");
        }

        public int Int() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

        public long Long() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

        public double Double() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));

        public string String() => Encoding.UTF8.GetString(Take(Int()));

        public ImmutableArray<string> Strings()
        {
            var n = Int();
            if (n < 0)
                return default;
            var b = ImmutableArray.CreateBuilder<string>(n);
            for (var i = 0; i < n; i++)
                b.Add(String());
            return b.MoveToImmutable();
        }

        public ImmutableArray<T> Array<T>()
            where T : unmanaged
        {
            var n = Int();
            if (n < 0)
                return default;
            var size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
            if (!BitConverter.IsLittleEndian && size > 1)
                throw new PlatformNotSupportedException("RoRecompSerializer reads raw little-endian arrays; big-endian hosts are not supported");
            var items = MemoryMarshal.Cast<byte, T>(Take(checked(n * size))).ToArray();
            return ImmutableCollectionsMarshal.AsImmutableArray(items);
        }

        public Response Response() => new(
            Id: String(),
            PromptId: String(),
            SampleIndex: Int(),
            Step: Long(),
            PolicyVersion: Long(),
            PromptTokens: Array<int>(),
            Tokens: Array<int>(),
            LogProbs: Array<float>(),
            Reward: Double(),
            Correct: Bool(),
            ToolCalls: Int(),
            FormatValid: Bool(),
            ActionMask: Array<bool>());

        public ImmutableArray<Response> Responses()
        {
            var n = Int();
            if (n < 0)
                return default;
            var b = ImmutableArray.CreateBuilder<Response>(n);
            for (var i = 0; i < n; i++)
                b.Add(Response());
            return b.MoveToImmutable();
        }
    }
}
