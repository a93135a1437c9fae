namespace RoRecomp.Weights;

/// <summary>The status field of a <see cref="WeightServer"/> response header.</summary>
public enum WeightStatus : ushort
{
    /// <summary>The blob follows.</summary>
    Ok = 0,

    /// <summary>The server holds no such version: nothing is published yet, or the version is newer than the newest.</summary>
    NotPublished = 1,

    /// <summary>The version is older than the oldest the server keeps (it was evicted).</summary>
    Evicted = 2,

    /// <summary>The request was malformed (bad magic, protocol version or size); the server closed the connection.</summary>
    BadRequest = 3,

    /// <summary>The request's credential is not the server's (<see cref="WeightServer.Credential"/>); the server closed the connection.</summary>
    Unauthorized = 4,
}
