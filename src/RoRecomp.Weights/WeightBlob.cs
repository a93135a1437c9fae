namespace RoRecomp.Weights;

/// <summary>A policy-weight blob fetched by <see cref="WeightClient"/>: every chunk checksum (and, unless turned off, the SHA-256) verified.</summary>
/// <param name="Version">The policy version the server sent.</param>
/// <param name="Bytes">The blob (safetensors bytes for a policy); owned by the caller.</param>
/// <param name="Sha256">The SHA-256 of <paramref name="Bytes"/> as announced by the server, lowercase hex.</param>
/// <param name="Sha256Verified">Whether the client recomputed the SHA-256 and found it equal (<see cref="WeightClientOptions.VerifySha256"/>).</param>
public sealed record WeightBlob(long Version, byte[] Bytes, string Sha256, bool Sha256Verified);
