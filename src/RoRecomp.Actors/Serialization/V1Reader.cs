using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Text;
using SerializationException = System.Runtime.Serialization.SerializationException;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Actors.Serialization;

/// <summary>
/// Reads the positional format 1 (fields in constructor order after the version byte; int32 little-endian lengths,
/// -1 for a default array) of the types journals and snapshots hold: replay-buffer events and snapshot, and
/// <see cref="CheckpointCommitted"/>. Never written any more; kept so that runs journaled before format 2 recover.
/// Frozen: the layouts here are those of the records when format 1 was retired, whatever the records become.
/// </summary>
internal sealed class V1Reader(byte[] bytes, string manifest)
{
    /// <summary>Offset of the next byte.</summary>
    public int Position { get; private set; } = 1;

    /// <summary>Whether every byte was read.</summary>
    public bool AtEnd => Position == bytes.Length;

    /// <summary>An int64.</summary>
    public long Long() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    /// <summary>A length-prefixed list of strings (default for -1).</summary>
    public ImmutableArray<string> Strings() => List(String);

    /// <summary>An eviction reason byte.</summary>
    public EvictionReason Reason()
    {
        var b = Take(1)[0];
        return System.Enum.IsDefined(typeof(EvictionReason), (int)b) ? (EvictionReason)b : throw Error($"unknown eviction reason {b}");
    }

    /// <summary>A length-prefixed list of responses (default for -1).</summary>
    public ImmutableArray<Response> Responses() => List(Response);

    /// <summary>The recent draws of a snapshot; snapshots written before they existed end before them (read as none).</summary>
    public ImmutableArray<DrawRecord> DrawRecordsIfAny() => AtEnd ? [] : List(() => new DrawRecord(Step: Long(), Responses: Responses()), allowDefault: false);

    /// <summary>A run checkpoint.</summary>
    public RunCheckpoint Checkpoint() => new(Step: Long(), Cursor: Long(), PolicyVersion: Long(), Path: String());

    private Response Response() => new(
        Id: String(),
        PromptId: String(),
        SampleIndex: Int(),
        Step: Long(),
        PolicyVersion: Long(),
        PromptTokens: Array<int>(),
        Tokens: Array<int>(),
        LogProbs: Array<float>(),
        Reward: BinaryPrimitives.ReadDoubleLittleEndian(Take(8)),
        Correct: Take(1)[0] != 0,
        ToolCalls: Int(),
        FormatValid: Take(1)[0] != 0,
        ActionMask: Array<bool>());

    private int Int() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

    private string String() => Encoding.UTF8.GetString(Take(Int()));

    private ImmutableArray<T> List<T>(Func<T> item, bool allowDefault = true)
    {
        var n = Int();
        if (n < 0 && allowDefault)
            return default;
        if (n < 0 || n > bytes.Length - Position)
            throw Error($"bad element count {n} at offset {Position - 4}");
        var b = ImmutableArray.CreateBuilder<T>(n);
        for (var i = 0; i < n; i++)
            b.Add(item());
        return b.MoveToImmutable();
    }

    private ImmutableArray<T> Array<T>()
        where T : unmanaged
    {
        var n = Int();
        if (n < 0)
            return default;
        var size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (!BitConverter.IsLittleEndian && size > 1)
            throw new PlatformNotSupportedException($"{nameof(RoRecompSerializer)} reads raw little-endian arrays; big-endian hosts are not supported");
        return ImmutableCollectionsMarshal.AsImmutableArray(MemoryMarshal.Cast<byte, T>(Take(checked(n * size))).ToArray());
    }

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || n > bytes.Length - Position)
            throw Error($"truncated ({n} bytes wanted at offset {Position} of {bytes.Length})");
        var span = bytes.AsSpan(Position, n);
        Position += n;
        return span;
    }

    private SerializationException Error(string what) => new($"{nameof(RoRecompSerializer)}: manifest '{manifest}' (format 1): {what}");
}
