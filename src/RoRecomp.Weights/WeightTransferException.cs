using System.Net;

namespace RoRecomp.Weights;

/// <summary>A weight fetch failed; the message names the endpoint, the version and, for a checksum failure, the chunk.</summary>
public sealed class WeightTransferException : IOException
{
    /// <summary>Creates the exception.</summary>
    public WeightTransferException(
        WeightTransferFailure failure, EndPoint server, long version, string message, int? chunkIndex = null, Exception? inner = null)
        : base(message, inner)
    {
        Failure = failure;
        Server = server;
        Version = version;
        ChunkIndex = chunkIndex;
    }

    /// <summary>What went wrong.</summary>
    public WeightTransferFailure Failure { get; }

    /// <summary>The weight server asked.</summary>
    public EndPoint Server { get; }

    /// <summary>The version asked for (-1 = the newest).</summary>
    public long Version { get; }

    /// <summary>The chunk whose checksum failed (<see cref="WeightTransferFailure.ChecksumMismatch"/>), else null.</summary>
    public int? ChunkIndex { get; }
}
