namespace RoRecomp.Actors.Weights;

/// <summary>Settings of a <see cref="WeightClient"/>.</summary>
public sealed record WeightClientOptions
{
    /// <summary>How long to wait for the TCP connection (default 5 s).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long to wait for the next bytes of the answer before giving up (default 30 s).</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Fetch attempts in all (default 3): a chunk checksum or SHA-256 mismatch, or a connection lost mid-blob, starts the
    /// fetch again until this many attempts have failed.
    /// </summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>Largest blob the client accepts; a header announcing more fails before anything is allocated. Default 2 GiB - 57 B (<see cref="Array.MaxLength"/>).</summary>
    public long MaxBlobBytes { get; init; } = Array.MaxLength;

    /// <summary>
    /// Recompute the whole blob's SHA-256 while receiving and compare it with the header's (default true). Chunk checksums
    /// are always verified; SHA-256 costs about 0.5 ns/byte on one core (see README, bench weights).
    /// </summary>
    public bool VerifySha256 { get; init; } = true;

    /// <summary>Kernel receive buffer in bytes; 0 (the default) leaves Linux's receive-buffer auto-tuning on.</summary>
    public int ReceiveBufferBytes { get; init; }
}
