using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace RoRecomp.Model.Checkpoints;

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="DType">safetensors dtype string (F32, F16, BF16, I64, I32, U8, ...).</param>
/// <param name="Shape">Shape.</param>
/// <param name="Begin">Start of its bytes, relative to the data section.</param>
/// <param name="End">End (exclusive) of its bytes.</param>
public sealed record SafeTensorInfo(string Name, string DType, long[] Shape, long Begin, long End);

/// <summary>A parsed safetensors file: header entries, metadata, and the raw bytes they point into.</summary>
public sealed class SafeTensorsContent
{
    internal SafeTensorsContent(string source, byte[] bytes, long dataStart, IReadOnlyList<SafeTensorInfo> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Source = source;
        Bytes = bytes;
        DataStart = dataStart;
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Where it was read from (for messages).</summary>
    public string Source { get; }

    /// <summary>The whole file.</summary>
    public byte[] Bytes { get; }

    /// <summary>Offset of the data section in <see cref="Bytes"/>.</summary>
    public long DataStart { get; }

    /// <summary>The tensors, in header order.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> string map.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The raw little-endian bytes of one tensor.</summary>
    public ReadOnlySpan<byte> RawBytes(SafeTensorInfo info) => Bytes.AsSpan((int)(DataStart + info.Begin), (int)(info.End - info.Begin));

    /// <summary>
    /// The tensor as a new CPU tensor. With <paramref name="toFloat32"/>, F16/BF16/F64 become F32 (Hugging Face weights);
    /// otherwise the stored dtype is kept (bit-exact round trips).
    /// </summary>
    public Tensor ToTensor(SafeTensorInfo info, bool toFloat32 = false)
    {
        var dtype = SafeTensors.ToScalarType(info.DType, Source, info.Name);
        var t = empty(info.Shape, dtype);
        if (t.NumberOfElements > 0) t.bytes = Bytes.AsSpan((int)(DataStart + info.Begin), (int)(info.End - info.Begin));
        if (toFloat32 && dtype is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64)
        {
            var f = t.to_type(ScalarType.Float32);
            t.Dispose();
            return f;
        }
        return t;
    }

    /// <summary>Every tensor by name (caller owns and disposes them).</summary>
    public Dictionary<string, Tensor> ToDictionary(bool toFloat32 = false) =>
        Tensors.ToDictionary(i => i.Name, i => ToTensor(i, toFloat32), StringComparer.Ordinal);
}

/// <summary>
/// The safetensors format, read and written by our own code: 8-byte little-endian header length, a JSON header
/// <c>{name: {dtype, shape, data_offsets}, "__metadata__": {..}}</c> padded with spaces to 8 bytes, then raw
/// little-endian data. Malformed or truncated files are refused with a message naming the file and the fault.
/// </summary>
public static class SafeTensors
{
    private const long MaxHeader = 100L << 20;

    /// <summary>Serialises tensors (moved to CPU, made contiguous) in the given order.</summary>
    public static byte[] Serialize(IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) meta[k] = v;
            header["__metadata__"] = meta;
        }
        var blobs = new List<byte[]>();
        long offset = 0;
        foreach (var (name, tensor) in tensors)
        {
            if (name == "__metadata__") throw new ArgumentException("a tensor cannot be named __metadata__");
            // The intermediates stay reachable in the scope: left to the finalizer, one could be freed while the next
            // native call still reads it (see TorchRuntime's remarks).
            using var scope = NewDisposeScope();
            var cpu = tensor.detach().cpu().contiguous();
            var bytes = cpu.NumberOfElements == 0 ? [] : cpu.bytes.ToArray();
            header[name] = new JsonObject
            {
                ["dtype"] = ToDType(cpu.dtype),
                ["shape"] = new JsonArray([.. cpu.shape.Select(d => (JsonNode)JsonValue.Create(d))]),
                ["data_offsets"] = new JsonArray(JsonValue.Create(offset), JsonValue.Create(offset + bytes.Length)),
            };
            blobs.Add(bytes);
            offset += bytes.Length;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var padded = (json.Length + 7) / 8 * 8;
        var result = new byte[8 + padded + offset];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)padded);
        json.CopyTo(result, 8);
        result.AsSpan(8 + json.Length, padded - json.Length).Fill((byte)' ');
        long at = 8 + padded;
        foreach (var b in blobs)
        {
            b.CopyTo(result, at);
            at += b.Length;
        }
        return result;
    }

    /// <summary>Reads and validates a file.</summary>
    public static SafeTensorsContent Read(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: file not found");
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses and validates bytes; <paramref name="source"/> names them in errors.</summary>
    public static SafeTensorsContent Parse(byte[] bytes, string source)
    {
        if (bytes.Length < 8) throw new CheckpointException($"{source}: truncated ({bytes.Length} bytes; a safetensors file starts with an 8-byte header length)");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > (ulong)MaxHeader || (long)headerLength > bytes.Length - 8)
            throw new CheckpointException($"{source}: header length {headerLength} exceeds the file ({bytes.Length} bytes): truncated or not safetensors");
        JsonObject header;
        try
        {
            header = JsonNode.Parse(bytes.AsSpan(8, (int)headerLength))?.AsObject() ?? throw new JsonException("empty header");
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            throw new CheckpointException($"{source}: the header is not valid JSON ({ex.Message})");
        }
        var dataStart = 8 + (long)headerLength;
        var dataLength = bytes.Length - dataStart;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var infos = new List<SafeTensorInfo>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                foreach (var (k, v) in node?.AsObject() ?? []) metadata[k] = v?.GetValue<string>() ?? "";
                continue;
            }
            try
            {
                var o = node!.AsObject();
                var dtype = o["dtype"]!.GetValue<string>();
                var shape = o["shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
                var offsets = o["data_offsets"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
                var info = new SafeTensorInfo(name, dtype, shape, offsets[0], offsets[1]);
                var expected = shape.Aggregate(1L, (a, b) => a * b) * ElementSize(dtype, source, name);
                if (offsets.Length != 2 || info.Begin < 0 || info.End < info.Begin || info.End - info.Begin != expected)
                    throw new CheckpointException($"{source}: tensor '{name}' has offsets [{string.Join(", ", offsets)}] that do not fit its {dtype} shape [{string.Join(", ", shape)}]");
                if (info.End > dataLength)
                    throw new CheckpointException($"{source}: tensor '{name}' ends at byte {info.End} of a {dataLength}-byte data section: the file is truncated");
                infos.Add(info);
            }
            catch (Exception ex) when (ex is InvalidOperationException or NullReferenceException or FormatException or IndexOutOfRangeException)
            {
                throw new CheckpointException($"{source}: malformed header entry for tensor '{name}' ({ex.Message})");
            }
        }
        return new SafeTensorsContent(source, bytes, dataStart, infos, metadata);
    }

    internal static string ToDType(ScalarType t) => t switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Float64 => "F64",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new CheckpointException($"dtype {t} cannot be stored in safetensors by this writer"),
    };

    internal static ScalarType ToScalarType(string dtype, string source, string name) => dtype switch
    {
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "F64" => ScalarType.Float64,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => throw new CheckpointException($"{source}: tensor '{name}' has dtype '{dtype}', which is not supported (F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)"),
    };

    private static long ElementSize(string dtype, string source, string name) => dtype switch
    {
        "F64" or "I64" => 8,
        "F32" or "I32" => 4,
        "F16" or "BF16" or "I16" => 2,
        "I8" or "U8" or "BOOL" => 1,
        _ => throw new CheckpointException($"{source}: tensor '{name}' has dtype '{dtype}', which is not supported"),
    };
}

/// <summary>A checkpoint or weights file is missing, corrupt, truncated or does not match the model; the message says which.</summary>
public sealed class CheckpointException(string message, Exception? inner = null) : Exception(message, inner);
