namespace RoRecomp.Weights;

/// <summary>Why a <see cref="WeightClient"/> fetch failed (<see cref="WeightTransferException.Failure"/>).</summary>
public enum WeightTransferFailure
{
    /// <summary>The connection could not be made: refused (nothing listens at the endpoint), or the host is unknown or unreachable.</summary>
    ConnectFailed,

    /// <summary>The server closed or reset the connection before the blob was complete.</summary>
    ConnectionLost,

    /// <summary>Connecting, or waiting for the next bytes, took longer than the client's timeout.</summary>
    Timeout,

    /// <summary>The server does not hold the version asked for (<see cref="WeightStatus.NotPublished"/> or <see cref="WeightStatus.Evicted"/>).</summary>
    VersionUnavailable,

    /// <summary>A chunk's checksum did not match its bytes, on every attempt.</summary>
    ChecksumMismatch,

    /// <summary>The whole blob's SHA-256 did not match the one in the header, on every attempt.</summary>
    DigestMismatch,

    /// <summary>The server's answer broke the wire protocol, or it rejected the request as malformed.</summary>
    Protocol,

    /// <summary>The blob is larger than <see cref="WeightClientOptions.MaxBlobBytes"/>.</summary>
    TooLarge,

    /// <summary>The server refused the client's credential (<see cref="WeightClientOptions.Credential"/>).</summary>
    Unauthorized,
}
