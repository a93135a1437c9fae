using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Text;
using SerializationException = System.Runtime.Serialization.SerializationException;

namespace RoRecomp.Actors.Serialization;

/// <summary>
/// Reads one tagged message body (see <see cref="TaggedWriter"/>). The body is indexed once; fields are then looked up
/// by number, so their order does not matter and fields this build does not know are skipped. A required field that is
/// missing, a field of the wrong wire kind, a repeated singular field or a length past the end is rejected with a
/// <see cref="SerializationException"/> naming the manifest, the path of nested messages and the field.
/// </summary>
internal sealed class TaggedReader
{
    private readonly byte[] _bytes;
    private readonly TaggedReader? _parent;
    private readonly string _name;
    private Field[] _fields = new Field[16];
    private int _count;

    /// <summary>Indexes the body of a message of <paramref name="manifest"/> at <paramref name="version"/>.</summary>
    public TaggedReader(byte[] bytes, int offset, int length, string manifest, int version)
        : this(bytes, offset, length, null, manifest, version)
    {
    }

    private TaggedReader(byte[] bytes, int offset, int length, TaggedReader? parent, string name, int version)
    {
        _bytes = bytes;
        _parent = parent;
        _name = name;
        Version = version;
        Index(offset, offset + length);
    }

    /// <summary>The type version the message was written with (readers branch on it when a field changed meaning).</summary>
    public int Version { get; }

    /// <summary>A required 64-bit integer.</summary>
    public long Long(int field, string name) => ZigZag(Scalar(field, name, WireKind.Varint, required: true)!.Value);

    /// <summary>A 64-bit integer; <paramref name="orDefault"/> when absent (a field added after data was written).</summary>
    public long Long(int field, string name, long orDefault) =>
        Scalar(field, name, WireKind.Varint, required: false) is { } v ? ZigZag(v) : orDefault;

    /// <summary>A required 32-bit integer.</summary>
    public int Int(int field, string name) => Narrow(Long(field, name), field, name);

    /// <summary>A 32-bit integer; <paramref name="orDefault"/> when absent.</summary>
    public int Int(int field, string name, int orDefault) => Narrow(Long(field, name, orDefault), field, name);

    /// <summary>A required bool.</summary>
    public bool Bool(int field, string name) => Long(field, name) != 0;

    /// <summary>A bool; <paramref name="orDefault"/> when absent.</summary>
    public bool Bool(int field, string name, bool orDefault) => Long(field, name, orDefault ? 1 : 0) != 0;

    /// <summary>A required enum; a value the enum does not define is rejected.</summary>
    public TEnum Enum<TEnum>(int field, string name)
        where TEnum : struct, Enum
    {
        var value = System.Enum.ToObject(typeof(TEnum), Long(field, name));
        return System.Enum.IsDefined(typeof(TEnum), value)
            ? (TEnum)value
            : throw Error($"field {field} ({name}) holds {value}, which is not a {typeof(TEnum).Name}");
    }

    /// <summary>A required double.</summary>
    public double Double(int field, string name) => BitConverter.UInt64BitsToDouble(Scalar(field, name, WireKind.Fixed64, required: true)!.Value);

    /// <summary>A double; <paramref name="orDefault"/> when absent.</summary>
    public double Double(int field, string name, double orDefault) =>
        Scalar(field, name, WireKind.Fixed64, required: false) is { } v ? BitConverter.UInt64BitsToDouble(v) : orDefault;

    /// <summary>A double; null when absent.</summary>
    public double? NullableDouble(int field, string name) =>
        Scalar(field, name, WireKind.Fixed64, required: false) is { } v ? BitConverter.UInt64BitsToDouble(v) : null;

    /// <summary>A required string.</summary>
    public string String(int field, string name) => NullableString(field, name) ?? throw Missing(field, name);

    /// <summary>A string; null when absent.</summary>
    public string? NullableString(int field, string name) =>
        Single(field, name, WireKind.Length) is { } f ? Encoding.UTF8.GetString(_bytes, f.Offset, f.Length) : null;

    /// <summary>A list of strings (repeated field); empty when absent.</summary>
    public ImmutableArray<string> Strings(int field, string name) => Repeated(field, name, f => Encoding.UTF8.GetString(_bytes, f.Offset, f.Length));

    /// <summary>An array of raw little-endian values; default when absent.</summary>
    public ImmutableArray<T> Array<T>(int field, string name)
        where T : unmanaged
    {
        if (Single(field, name, WireKind.Length) is not { } f)
            return default;
        var size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (!BitConverter.IsLittleEndian && size > 1)
            throw new PlatformNotSupportedException($"{nameof(RoRecompSerializer)} reads raw little-endian arrays; big-endian hosts are not supported");
        if (f.Length % size != 0)
            throw Error($"field {field} ({name}) is {f.Length} bytes, not a whole number of {typeof(T).Name} values");
        return ImmutableCollectionsMarshal.AsImmutableArray(MemoryMarshal.Cast<byte, T>(_bytes.AsSpan(f.Offset, f.Length)).ToArray());
    }

    /// <summary>A required nested message.</summary>
    public T Message<T>(int field, string name, Part<T> part)
        where T : class => OptionalMessage(field, name, part) ?? throw Missing(field, name);

    /// <summary>A nested message; null when absent.</summary>
    public T? OptionalMessage<T>(int field, string name, Part<T> part)
        where T : class => Single(field, name, WireKind.Length) is { } f ? Nested(f, name, part) : null;

    /// <summary>A list of nested messages (repeated field); empty when absent.</summary>
    public ImmutableArray<T> Messages<T>(int field, string name, Part<T> part)
        where T : class => Repeated(field, name, f => Nested(f, name, part));

    private T Nested<T>(Field f, string name, Part<T> part) => part.Read(new TaggedReader(_bytes, f.Offset, f.Length, this, name, Version));

    private ulong? Scalar(int field, string name, WireKind kind, bool required) =>
        Single(field, name, kind) is { } f ? f.Scalar : required ? throw Missing(field, name) : null;

    private Field? Single(int field, string name, WireKind kind)
    {
        Field? found = null;
        for (var i = 0; i < _count; i++)
        {
            if (_fields[i].Number != field)
                continue;
            if (found is not null)
                throw Error($"field {field} ({name}) occurs more than once");
            found = Checked(_fields[i], name, kind);
        }
        return found;
    }

    private ImmutableArray<T> Repeated<T>(int field, string name, Func<Field, T> read)
    {
        var n = 0;
        for (var i = 0; i < _count; i++)
            n += _fields[i].Number == field ? 1 : 0;
        var items = ImmutableArray.CreateBuilder<T>(n);
        for (var i = 0; i < _count; i++)
            if (_fields[i].Number == field)
                items.Add(read(Checked(_fields[i], name, WireKind.Length)));
        return items.MoveToImmutable();
    }

    private Field Checked(Field f, string name, WireKind kind) =>
        f.Kind == kind ? f : throw Error($"field {f.Number} ({name}) has wire kind {f.Kind}, expected {kind}");

    private void Index(int position, int end)
    {
        while (position < end)
        {
            var tag = Varint(ref position, end);
            var number = tag >> 3;
            if (number is 0 or > int.MaxValue)
                throw Error($"bad field number {number} at offset {position}");
            var field = new Field((int)number, (WireKind)(tag & 7), 0, 0, 0);
            switch (field.Kind)
            {
                case WireKind.Varint:
                    field = field with { Scalar = Varint(ref position, end) };
                    break;
                case WireKind.Fixed64:
                    field = field with { Scalar = BinaryPrimitives.ReadUInt64LittleEndian(Take(ref position, end, 8)) };
                    break;
                case WireKind.Fixed32:
                    field = field with { Scalar = BinaryPrimitives.ReadUInt32LittleEndian(Take(ref position, end, 4)) };
                    break;
                case WireKind.Length:
                    var length = Varint(ref position, end);
                    if (length > (ulong)(end - position))
                        throw Error($"truncated: field {number} wants {length} bytes at offset {position}, {end - position} left");
                    field = field with { Offset = position, Length = (int)length };
                    position += (int)length;
                    break;
                default:
                    throw Error($"field {number} has unknown wire kind {(int)field.Kind}");
            }
            if (_count == _fields.Length)
                System.Array.Resize(ref _fields, _count * 2);
            _fields[_count++] = field;
        }
    }

    /// <summary>Reads a varint of at most 10 bytes ending before <paramref name="end"/>; false when it does not.</summary>
    public static bool TryVarint(byte[] bytes, ref int position, int end, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64 && position < end; shift += 7)
        {
            var b = bytes[position++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
                return true;
        }
        return false;
    }

    private ulong Varint(ref int position, int end) =>
        TryVarint(_bytes, ref position, end, out var value) ? value : throw Error($"truncated or bad varint at offset {position}");

    private ReadOnlySpan<byte> Take(ref int position, int end, int count)
    {
        if (count > end - position)
            throw Error($"truncated: {count} bytes wanted at offset {position}, {end - position} left");
        var span = _bytes.AsSpan(position, count);
        position += count;
        return span;
    }

    private static long ZigZag(ulong v) => (long)(v >> 1) ^ -(long)(v & 1);

    private int Narrow(long value, int field, string name) =>
        value is >= int.MinValue and <= int.MaxValue ? (int)value : throw Error($"field {field} ({name}) holds {value}, out of the range of an int");

    private SerializationException Missing(int field, string name) => Error($"required field {field} ({name}) is missing");

    private SerializationException Error(string what) => new($"{nameof(RoRecompSerializer)}: {Path()}: {what}");

    private string Path() => _parent is null ? $"manifest '{_name}' (type version {Version})" : $"{_parent.Path()} > {_name}";

    private readonly record struct Field(int Number, WireKind Kind, ulong Scalar, int Offset, int Length);
}
