using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Text;

namespace RoRecomp.Actors.Serialization;

/// <summary>How a tagged field's value is laid out (the low 3 bits of its tag, as in protobuf).</summary>
internal enum WireKind
{
    /// <summary>A varint: zigzag-encoded integers, bools, enums.</summary>
    Varint = 0,

    /// <summary>8 little-endian bytes: doubles.</summary>
    Fixed64 = 1,

    /// <summary>A varint byte length, then the bytes: strings, raw little-endian arrays, nested messages.</summary>
    Length = 2,

    /// <summary>4 little-endian bytes (not written today; skipped when unknown).</summary>
    Fixed32 = 5,
}

/// <summary>
/// Writes the tagged (protobuf wire-compatible) body of a message: each field is a varint tag
/// (<c>number &lt;&lt; 3 | kind</c>) then its value. Integers are zigzag varints, doubles fixed64, strings UTF-8,
/// arrays of unmanaged values raw little-endian bytes, nested messages length-delimited (a 5-byte padded varint length,
/// patched after the nested body is written, so nothing is copied twice). Lists are repeated fields; a null string or a
/// default array is not written at all. Methods return the writer, so a type's fields chain in one expression.
/// </summary>
internal sealed class TaggedWriter
{
    private const int PaddedLength = 5;
    private byte[] _buffer;
    private int _length;

    /// <summary>A writer whose buffer starts at <paramref name="capacity"/> bytes (a good estimate saves the copies of growing).</summary>
    public TaggedWriter(int capacity = 256) => _buffer = new byte[Math.Clamp(capacity, 256, System.Array.MaxLength)];

    /// <summary>The bytes written so far (the buffer itself when the estimate was exact).</summary>
    public byte[] ToArray() => _length == _buffer.Length ? _buffer : _buffer.AsSpan(0, _length).ToArray();

    /// <summary>Appends one raw byte (the envelope's format version).</summary>
    public void RawByte(byte b) => Reserve(1)[0] = b;

    /// <summary>Appends an unsigned varint (the envelope's type version).</summary>
    public void RawVarint(ulong value)
    {
        while (value >= 0x80)
        {
            RawByte((byte)(value | 0x80));
            value >>= 7;
        }
        RawByte((byte)value);
    }

    /// <summary>Writes <paramref name="value"/> with <paramref name="write"/> behind a byte-length prefix (the envelope's body).</summary>
    public void LengthPrefixed<T>(T value, Action<TaggedWriter, T> write)
    {
        var at = _length;
        Reserve(PaddedLength);
        write(this, value);
        var length = (uint)(_length - at - PaddedLength);
        var span = _buffer.AsSpan(at, PaddedLength);
        for (var i = 0; i < PaddedLength - 1; i++, length >>= 7)
            span[i] = (byte)(length | 0x80);
        span[PaddedLength - 1] = (byte)length;
    }

    /// <summary>A 32-bit integer (zigzag varint).</summary>
    public TaggedWriter Int(int field, int value) => Long(field, value);

    /// <summary>A 64-bit integer (zigzag varint).</summary>
    public TaggedWriter Long(int field, long value)
    {
        Tag(field, WireKind.Varint);
        RawVarint((ulong)((value << 1) ^ (value >> 63)));
        return this;
    }

    /// <summary>A bool (varint 0 or 1).</summary>
    public TaggedWriter Bool(int field, bool value) => Long(field, value ? 1 : 0);

    /// <summary>An enum by its underlying value.</summary>
    public TaggedWriter Enum<TEnum>(int field, TEnum value)
        where TEnum : struct, Enum => Long(field, Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>A double (fixed64).</summary>
    public TaggedWriter Double(int field, double value)
    {
        Tag(field, WireKind.Fixed64);
        BinaryPrimitives.WriteDoubleLittleEndian(Reserve(8), value);
        return this;
    }

    /// <summary>A double (fixed64); null writes nothing (read back with <see cref="TaggedReader.NullableDouble"/>).</summary>
    public TaggedWriter Double(int field, double? value) => value is { } v ? Double(field, v) : this;

    /// <summary>A UTF-8 string; null writes nothing (read back as null or rejected as missing).</summary>
    public TaggedWriter String(int field, string? value)
    {
        if (value is null)
            return this;
        Tag(field, WireKind.Length);
        var count = Encoding.UTF8.GetByteCount(value);
        RawVarint((ulong)count);
        Encoding.UTF8.GetBytes(value, Reserve(count));
        return this;
    }

    /// <summary>A list of strings, one repeated field per item.</summary>
    public TaggedWriter Strings(int field, ImmutableArray<string> values)
    {
        foreach (var s in values.IsDefault ? [] : values)
            String(field, s);
        return this;
    }

    /// <summary>An array of unmanaged values as raw little-endian bytes; a default array writes nothing (read back as default).</summary>
    public TaggedWriter Array<T>(int field, ImmutableArray<T> values)
        where T : unmanaged => values.IsDefault ? this : Array(field, values.AsSpan());

    /// <summary>A span of unmanaged values as raw little-endian bytes (written even when empty).</summary>
    public TaggedWriter Array<T>(int field, ReadOnlySpan<T> values)
        where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(values);
        if (!BitConverter.IsLittleEndian && bytes.Length != values.Length)
            throw new PlatformNotSupportedException($"{nameof(RoRecompSerializer)} writes raw little-endian arrays; big-endian hosts are not supported");
        Tag(field, WireKind.Length);
        RawVarint((ulong)bytes.Length);
        bytes.CopyTo(Reserve(bytes.Length));
        return this;
    }

    /// <summary>A nested message written by <paramref name="part"/>; null writes nothing.</summary>
    public TaggedWriter Message<T>(int field, T? value, Part<T> part)
        where T : class
    {
        if (value is null)
            return this;
        Tag(field, WireKind.Length);
        LengthPrefixed(value, part.Write);
        return this;
    }

    /// <summary>A list of nested messages, one repeated field per item.</summary>
    public TaggedWriter Messages<T>(int field, ImmutableArray<T> values, Part<T> part)
        where T : class
    {
        foreach (var v in values.IsDefault ? [] : values)
            Message(field, v, part);
        return this;
    }

    private void Tag(int field, WireKind kind) => RawVarint(((ulong)(uint)field << 3) | (uint)kind);

    private Span<byte> Reserve(int count)
    {
        if (_length + count > _buffer.Length)
            System.Array.Resize(ref _buffer, (int)Math.Clamp(2L * _buffer.Length, checked(_length + count), System.Array.MaxLength));
        var span = _buffer.AsSpan(_length, count);
        _length += count;
        return span;
    }
}
