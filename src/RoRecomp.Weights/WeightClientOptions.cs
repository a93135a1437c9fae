namespace RoRecomp.Weights;

/// <summary>Settings of a <see cref="WeightClient"/>.</summary>
public sealed record WeightClientOptions
{
    /// <summary>How long to wait for the TCP connection (default 5 s).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long to wait for the next bytes of the answer before giving up (default 30 s).</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Fetch attempts at the origin (the last source; default 3): a chunk or manifest digest mismatch, or a connection
    /// lost mid-blob, starts the fetch again (from the first unverified chunk) until this many attempts have failed. A
    /// relay peer gets one attempt before the next source takes over.
    /// </summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>Largest blob the client accepts; a header announcing more fails before anything is allocated. Default 2 GiB - 57 B (<see cref="Array.MaxLength"/>).</summary>
    public long MaxBlobBytes { get; init; } = Array.MaxLength;

    /// <summary>
    /// The server's credential (<see cref="WeightServer.Credential"/>, 32 bytes), sent with each request; the learner hands
    /// it to cluster members with the version to fetch. Empty = none (the server refuses the request).
    /// </summary>
    public ReadOnlyMemory<byte> Credential { get; init; }

    /// <summary>
    /// A certificate with its private key: the client then speaks TLS, presents it, and accepts the server's certificate
    /// when it is the same or trusted by the machine. Null (the default) = plain TCP.
    /// </summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? Certificate { get; init; }
}
