using System.Buffers.Binary;
using System.Security.Cryptography;
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

/// <summary>
/// A parsed safetensors header and where its data lives: in memory (<see cref="SafeTensors.Parse"/>) or in a file that is
/// read one tensor at a time (<see cref="SafeTensors.Read"/>), so a file larger than a .NET array never has to be held whole.
/// </summary>
public sealed class SafeTensorsContent
{
    private readonly byte[]? _bytes;
    private readonly string? _file;

    internal SafeTensorsContent(string source, byte[]? bytes, string? file, long dataStart, IReadOnlyList<SafeTensorInfo> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Source = source;
        _bytes = bytes;
        _file = file;
        DataStart = dataStart;
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Where it was read from (for messages).</summary>
    public string Source { get; }

    /// <summary>Offset of the data section from the start of the file.</summary>
    public long DataStart { get; }

    /// <summary>The tensors, in header order.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> string map.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>
    /// The tensor as a new CPU tensor. With <paramref name="toFloat32"/>, F16/BF16/F64 become F32 (Hugging Face weights);
    /// otherwise the stored dtype is kept (bit-exact round trips).
    /// </summary>
    public Tensor ToTensor(SafeTensorInfo info, bool toFloat32 = false)
    {
        var t = SafeTensors.EmptyFor(info, Source);
        try
        {
            if (_bytes is not null)
            {
                var at = DataStart + info.Begin;
                SafeTensors.ForEachChunk(t, chunk =>
                {
                    _bytes.AsSpan((int)at, chunk.Length).CopyTo(chunk);
                    at += chunk.Length;
                });
            }
            else
            {
                using var stream = new FileStream(_file!, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
                stream.Seek(DataStart + info.Begin, SeekOrigin.Begin);
                SafeTensors.ForEachChunk(t, chunk => SafeTensors.ReadExactly(stream, chunk, Source));
            }
        }
        catch
        {
            t.Dispose();
            throw;
        }
        if (toFloat32 && t.dtype is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64)
        {
            var f = t.to_type(ScalarType.Float32);
            t.Dispose();
            return f;
        }
        return t;
    }

    /// <summary>Every tensor by name (caller owns and disposes them).</summary>
    public Dictionary<string, Tensor> ToDictionary(bool toFloat32 = false)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var i in Tensors) result[i.Name] = ToTensor(i, toFloat32);
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }
}

/// <summary>
/// The safetensors format, read and written by our own code: 8-byte little-endian header length, a JSON header
/// <c>{name: {dtype, shape, data_offsets}, "__metadata__": {..}}</c> padded with spaces to 8 bytes, then raw
/// little-endian data. Malformed or truncated files are refused with a message naming the file and the fault.
/// <para>
/// Files stream: <see cref="Write"/> writes the header and then each tensor's bytes straight from its storage, and
/// <see cref="ReadAll"/> fills each new tensor's storage straight from the stream, in chunks of at most
/// <see cref="ChunkBytes"/>, optionally hashing every byte on the way. Nothing builds a file-sized array, so files and
/// tensors larger than 2 GiB (a 0.5B model's AdamW state) work; only the in-memory <see cref="Serialize"/> and
/// <see cref="Parse"/> are limited to <see cref="Array.MaxLength"/> bytes, and say so.
/// </para>
/// </summary>
public static class SafeTensors
{
    /// <summary>Largest piece of a tensor copied at once (a view's span must stay below 2 GiB; 64 MiB keeps I/O calls few).</summary>
    public const int ChunkBytes = 64 << 20;

    private const long MaxHeader = 100L << 20;

    /// <summary>Receives one chunk of a tensor's storage (to read from or to fill).</summary>
    internal delegate void ChunkAction(Span<byte> chunk);

    /// <summary>
    /// Writes tensors (moved to CPU and made contiguous one at a time, in the given order) as a safetensors file to
    /// <paramref name="output"/>, adding every byte written to <paramref name="hash"/> when given; returns the bytes written.
    /// <paramref name="progress"/> gets the bytes written so far after each chunk. With <paramref name="floatsAs"/>, floating
    /// tensors are stored in that dtype (converted one tensor at a time; e.g. bf16 for a half-size export).
    /// </summary>
    public static long Write(
        Stream output,
        IEnumerable<KeyValuePair<string, Tensor>> tensors,
        IReadOnlyDictionary<string, string>? metadata = null,
        IncrementalHash? hash = null,
        Action<long>? progress = null,
        ScalarType? floatsAs = null)
    {
        var list = tensors.ToList();
        var header = Header(list, metadata, floatsAs, out var dataBytes);
        long written = 0;
        void Emit(ReadOnlySpan<byte> bytes)
        {
            output.Write(bytes);
            hash?.AppendData(bytes);
            written += bytes.Length;
            progress?.Invoke(written);
        }
        Emit(header);
        foreach (var (_, tensor) in list)
        {
            // The intermediates stay reachable in the scope: left to the finalizer, one could be freed while the next
            // native call still reads it (see TorchRuntime's remarks). For a contiguous CPU tensor they are views (no copy).
            using var scope = NewDisposeScope();
            var cpu = tensor.detach().cpu().to_type(StoredType(tensor.dtype, floatsAs)).contiguous();
            ForEachChunk(cpu, chunk => Emit(chunk));
        }
        if (written != header.Length + dataBytes) throw new InvalidOperationException($"safetensors writer wrote {written} bytes, its header promised {header.Length + dataBytes}");
        return written;
    }

    /// <summary>Serialises tensors in the given order into one array (weights in memory); files use <see cref="Write"/>.</summary>
    public static byte[] Serialize(IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var total = Header(list, metadata, null, out var dataBytes).Length + dataBytes;
        if (total > Array.MaxLength)
            throw new CheckpointException($"{total:N0} bytes of safetensors do not fit in one .NET array (at most {Array.MaxLength:N0} bytes); write them to a file with SafeTensors.Write instead");
        var result = new byte[total];
        using var stream = new MemoryStream(result, writable: true);
        Write(stream, list, metadata);
        return result;
    }

    /// <summary>Reads the header of a file; tensors are read from the file one at a time when asked for.</summary>
    public static SafeTensorsContent Read(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: file not found");
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        var (_, dataStart, infos, metadata) = ReadHeader(stream, stream.Length, path);
        return new SafeTensorsContent(path, null, path, dataStart, infos, metadata);
    }

    /// <summary>
    /// Reads a whole file front to back in one pass: the header, then every tensor (stored dtype) straight into its new
    /// storage, adding every byte of the file to <paramref name="hash"/> when given. The caller owns the tensors.
    /// </summary>
    public static (Dictionary<string, Tensor> Tensors, IReadOnlyDictionary<string, string> Metadata) ReadAll(string path, IncrementalHash? hash = null)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: file not found");
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        var length = stream.Length;
        var (headerBytes, dataStart, infos, metadata) = ReadHeader(stream, length, path);
        hash?.AppendData(headerBytes);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            long at = 0;   // position in the data section
            var skip = new byte[Math.Min(ChunkBytes, 1 << 20)];
            void Pass(long bytes)   // bytes no tensor owns (padding between tensors, or after the last): hashed, not kept
            {
                while (bytes > 0)
                {
                    var n = (int)Math.Min(bytes, skip.Length);
                    ReadExactly(stream, skip.AsSpan(0, n), path);
                    hash?.AppendData(skip.AsSpan(0, n));
                    bytes -= n;
                }
            }
            foreach (var info in infos.OrderBy(i => i.Begin))
            {
                if (info.Begin < at)
                    throw new CheckpointException($"{path}: tensor '{info.Name}' overlaps the tensor before it (bytes from {info.Begin}, previous ends at {at})");
                Pass(info.Begin - at);
                var t = EmptyFor(info, path);
                result[info.Name] = t;
                ForEachChunk(t, chunk =>
                {
                    ReadExactly(stream, chunk, path);
                    hash?.AppendData(chunk);
                });
                at = info.End;
            }
            Pass(length - dataStart - at);
            return (result, metadata);
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>Parses and validates bytes; <paramref name="source"/> names them in errors.</summary>
    public static SafeTensorsContent Parse(byte[] bytes, string source)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        var (_, dataStart, infos, metadata) = ReadHeader(stream, bytes.Length, source);
        return new SafeTensorsContent(source, bytes, null, dataStart, infos, metadata);
    }

    /// <summary>The header bytes (length, JSON, padding) for these tensors, and the size of the data after it.</summary>
    private static byte[] Header(IReadOnlyList<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata, ScalarType? floatsAs, out long dataBytes)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) meta[k] = v;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        foreach (var (name, tensor) in tensors)
        {
            if (name == "__metadata__") throw new ArgumentException("a tensor cannot be named __metadata__");
            var stored = StoredType(tensor.dtype, floatsAs);
            var bytes = StoredBytes(tensor, floatsAs);
            header[name] = new JsonObject
            {
                ["dtype"] = ToDType(stored),
                ["shape"] = new JsonArray([.. tensor.shape.Select(d => (JsonNode)JsonValue.Create(d))]),
                ["data_offsets"] = new JsonArray(JsonValue.Create(offset), JsonValue.Create(offset + bytes)),
            };
            offset += bytes;
        }
        dataBytes = offset;
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var padded = (json.Length + 7) / 8 * 8;
        var result = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)padded);
        json.CopyTo(result, 8);
        result.AsSpan(8 + json.Length).Fill((byte)' ');
        return result;
    }

    /// <summary>Reads and validates the header from the start of <paramref name="stream"/> (of <paramref name="length"/> bytes), leaving the stream at the data.</summary>
    private static (byte[] HeaderBytes, long DataStart, List<SafeTensorInfo> Infos, Dictionary<string, string> Metadata) ReadHeader(Stream stream, long length, string source)
    {
        if (length < 8) throw new CheckpointException($"{source}: truncated ({length} bytes; a safetensors file starts with an 8-byte header length)");
        var prefix = new byte[8];
        ReadExactly(stream, prefix, source);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)MaxHeader || (long)headerLength > length - 8)
            throw new CheckpointException($"{source}: header length {headerLength} exceeds the file ({length} bytes): truncated or not safetensors");
        var headerBytes = new byte[8 + (int)headerLength];
        prefix.CopyTo(headerBytes, 0);
        ReadExactly(stream, headerBytes.AsSpan(8), source);
        JsonObject header;
        try
        {
            header = JsonNode.Parse(headerBytes.AsSpan(8))?.AsObject() ?? throw new JsonException("empty header");
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            throw new CheckpointException($"{source}: the header is not valid JSON ({ex.Message})");
        }
        var dataStart = 8 + (long)headerLength;
        var dataLength = length - dataStart;
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
        return (headerBytes, dataStart, infos, metadata);
    }

    /// <summary>The bytes <paramref name="tensor"/> takes in a file (floating tensors stored as <paramref name="floatsAs"/> when given).</summary>
    public static long StoredBytes(Tensor tensor, ScalarType? floatsAs = null) =>
        tensor.NumberOfElements * ElementSize(ToDType(StoredType(tensor.dtype, floatsAs)), "", "");

    private static ScalarType StoredType(ScalarType dtype, ScalarType? floatsAs) =>
        floatsAs is { } f && dtype is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64 ? f : dtype;

    /// <summary>A new uninitialised CPU tensor of the stored dtype and shape.</summary>
    internal static Tensor EmptyFor(SafeTensorInfo info, string source) => empty(info.Shape, ToScalarType(info.DType, source, info.Name));

    /// <summary>
    /// Calls <paramref name="action"/> with the storage of a contiguous CPU tensor, front to back, in spans of at most
    /// <see cref="ChunkBytes"/> (TorchSharp's <c>bytes</c> span is limited to 2 GiB, so larger tensors go view by view).
    /// </summary>
    internal static void ForEachChunk(Tensor contiguousCpu, ChunkAction action)
    {
        var count = contiguousCpu.NumberOfElements;
        if (count == 0) return;
        var elementSize = contiguousCpu.ElementSize;
        if (count * elementSize <= ChunkBytes)
        {
            action(contiguousCpu.bytes);
            return;
        }
        using var flat = contiguousCpu.view(-1);
        var perChunk = ChunkBytes / elementSize;
        for (long start = 0; start < count; start += perChunk)
        {
            using var piece = flat.narrow(0, start, Math.Min(perChunk, count - start));
            action(piece.bytes);
        }
    }

    /// <summary>Fills <paramref name="buffer"/> from the stream or reports the file as truncated.</summary>
    internal static void ReadExactly(Stream stream, Span<byte> buffer, string source)
    {
        try
        {
            stream.ReadExactly(buffer);
        }
        catch (EndOfStreamException)
        {
            throw new CheckpointException($"{source}: the file ends early: it is truncated");
        }
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
