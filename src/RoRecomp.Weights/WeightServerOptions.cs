namespace RoRecomp.Weights;

/// <summary>Settings of a <see cref="WeightServer"/>.</summary>
public sealed record WeightServerOptions
{
    /// <summary>Smallest allowed <see cref="ChunkBytes"/> (64 KiB).</summary>
    public const int MinChunkBytes = 64 * 1024;

    /// <summary>Largest allowed <see cref="ChunkBytes"/> (64 MiB); clients refuse headers announcing more.</summary>
    public const int MaxChunkBytes = 64 * 1024 * 1024;

    /// <summary>Address to listen on: an IP literal or a host name (its first address). Default 127.0.0.1.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>TCP port to listen on; 0 (the default) takes any free port (see <see cref="WeightServer.Port"/>).</summary>
    public int Port { get; init; }

    /// <summary>How many of the newest published versions stay fetchable (default 2).</summary>
    public int KeepVersions { get; init; } = 2;

    /// <summary>
    /// Bytes per chunk, the unit each client verifies (SHA-256, in parallel with receiving) and a relay forwards as soon
    /// as it has verified it; default 4 MiB.
    /// </summary>
    public int ChunkBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>How long a client may take to send its request after connecting (default 10 s).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long one send may wait for a client that reads nothing (default 30 s); then the connection is dropped.</summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a request for a version newer than any held waits for it to arrive before it is answered
    /// <see cref="WeightStatus.NotPublished"/> (default 0: answer at once). A relay sets it: its children may ask before
    /// it has started its own fetch.
    /// </summary>
    public TimeSpan AwaitVersion { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// Caps the bytes per second this server sends over all its connections (null, the default: no cap). Not a
    /// configuration key: `bench weights --link-mb-per-s` sets it to emulate a cluster's per-node uplink on one machine.
    /// </summary>
    public long? UploadBytesPerSecond { get; init; }
    /// The 32-byte credential a request must carry (compared in constant time); null (the default) = the server draws a
    /// random one (<see cref="WeightServer.Credential"/>), which only those it is handed to can present.
    /// </summary>
    public byte[]? Credential { get; init; }

    /// <summary>Called with a line for refused requests (garbage, a wrong credential): the 1st, 2nd, 4th, 8th... of each kind.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>
    /// A certificate with its private key: the server then speaks TLS and requires the client's certificate (its own, or
    /// one trusted by the machine); a client without one is refused in the handshake. Null (the default) = plain TCP.
    /// </summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? Certificate { get; init; }
}
