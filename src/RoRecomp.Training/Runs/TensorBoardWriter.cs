using System.Buffers.Binary;
using System.Text;

namespace RoRecomp.Training.Runs;

/// <summary>
/// Writes scalars to a new TensorBoard event file (<c>events.out.tfevents.&lt;unix-time&gt;.&lt;host&gt;.&lt;pid&gt;</c>, then
/// <c>.1</c>, <c>.2</c>, ... when a writer of this process made that name within the same second) so
/// <c>tensorboard --logdir</c> shows a run live. The file is a TFRecord stream of <c>Event</c> protobufs, encoded here by
/// hand (no tensors, no protobuf package): each record is the data length (uint64 LE), the masked CRC32C of those 8
/// bytes, the data and its masked CRC32C. The first event carries the file version <c>brain.Event:2</c>. Every event is
/// flushed as it is written. Not thread-safe: one writer per caller thread (the run's reporter thread).
/// </summary>
/// <remarks>
/// TorchSharp 0.107 ships <c>torch.utils.tensorboard.SummaryWriter</c>, but its <c>add_scalar</c> takes an
/// <see cref="int"/> step and going through the <c>torch</c> class loads the native library for a file format that
/// needs none of it; these few fields are simpler to write directly.
/// </remarks>
public sealed class TensorBoardWriter : IDisposable
{
    /// <summary>The file version TensorBoard expects in the first event.</summary>
    public const string FileVersion = "brain.Event:2";

    private readonly FileStream _file;

    /// <summary>Creates <paramref name="directory"/> if needed and a new event file in it, starting with the file-version event.</summary>
    public TensorBoardWriter(string directory)
    {
        Directory.CreateDirectory(directory);
        var now = DateTimeOffset.UtcNow;
        var name = System.IO.Path.Combine(directory, $"events.out.tfevents.{now.ToUnixTimeSeconds()}.{Environment.MachineName}.{Environment.ProcessId}");
        Path = name;
        for (var n = 1; File.Exists(Path); n++) Path = $"{name}.{n}"; // a second writer in the same second (a resume in-process)
        _file = new FileStream(Path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        var e = new ProtoWriter();
        e.Double(1, WallTime(now));
        e.Varint(2, 0);
        e.String(3, FileVersion);
        WriteRecord(e.ToArray());
    }

    /// <summary>The event file written.</summary>
    public string Path { get; }

    /// <summary>
    /// Marks a restart at <paramref name="step"/> (a <c>SessionLog</c> START event): TensorBoard's loader drops the
    /// points already read at that step and later ones, which the resumed run writes again.
    /// </summary>
    public void Restart(long step)
    {
        var log = new ProtoWriter();
        log.Varint(1, 1); // SessionLog.status = START
        var e = new ProtoWriter();
        e.Double(1, WallTime(DateTimeOffset.UtcNow));
        e.Varint(2, step);
        e.Message(6, log);
        WriteRecord(e.ToArray());
    }

    /// <summary>Writes one event at <paramref name="step"/> holding one scalar per tag (as 32-bit floats, as TensorBoard stores them).</summary>
    public void Scalars(long step, IEnumerable<(string Tag, double Value)> scalars)
    {
        var summary = new ProtoWriter();
        foreach (var (tag, value) in scalars)
        {
            var v = new ProtoWriter();
            v.String(1, tag);
            v.Float(2, (float)value);
            summary.Message(1, v);
        }
        var e = new ProtoWriter();
        e.Double(1, WallTime(DateTimeOffset.UtcNow));
        e.Varint(2, step);
        e.Message(5, summary);
        WriteRecord(e.ToArray());
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _file.Dispose();

    /// <summary>The TFRecord mask of a CRC32C: rotate right by 15 bits, add <c>0xa282ead8</c>.</summary>
    public static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        var crc = Crc32C.Compute(data);
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8;
    }

    private void WriteRecord(byte[] data)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], MaskedCrc(header[..8]));
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, MaskedCrc(data));
        _file.Write(header);
        _file.Write(data);
        _file.Write(footer);
        _file.Flush();
    }

    private static double WallTime(DateTimeOffset t) => t.ToUnixTimeMilliseconds() / 1000.0;

    /// <summary>The few protobuf wire forms an event needs.</summary>
    private sealed class ProtoWriter
    {
        private readonly MemoryStream _bytes = new();

        public void Varint(int field, long value)
        {
            Key(field, 0);
            Raw((ulong)value);
        }

        public void Double(int field, double value)
        {
            Key(field, 1);
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteDoubleLittleEndian(b, value);
            _bytes.Write(b);
        }

        public void Float(int field, float value)
        {
            Key(field, 5);
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteSingleLittleEndian(b, value);
            _bytes.Write(b);
        }

        public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public void Message(int field, ProtoWriter message) => Bytes(field, message.ToArray());

        public byte[] ToArray() => _bytes.ToArray();

        private void Bytes(int field, byte[] value)
        {
            Key(field, 2);
            Raw((ulong)value.Length);
            _bytes.Write(value);
        }

        private void Key(int field, int wireType) => Raw((ulong)((field << 3) | wireType));

        private void Raw(ulong value)
        {
            while (value >= 0x80)
            {
                _bytes.WriteByte((byte)(value | 0x80));
                value >>= 7;
            }
            _bytes.WriteByte((byte)value);
        }
    }
}

/// <summary>CRC-32C (Castagnoli, reflected polynomial <c>0x82F63B78</c>), the checksum of TFRecord files.</summary>
public static class Crc32C
{
    private static readonly uint[] Table = BuildTable();

    /// <summary>The CRC-32C of <paramref name="data"/> (of "123456789": <c>0xE3069283</c>).</summary>
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return ~crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[i] = c;
        }
        return table;
    }
}
