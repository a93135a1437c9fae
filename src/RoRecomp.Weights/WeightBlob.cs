namespace RoRecomp.Weights;

/// <summary>A policy-weight blob fetched by <see cref="WeightClient"/>: every chunk's SHA-256 verified against the manifest, and the manifest against its digest.</summary>
/// <param name="Version">The policy version the server sent.</param>
/// <param name="Bytes">The blob (safetensors bytes for a policy); owned by the caller (and by the relay serving it, if one was given).</param>
/// <param name="Digest">The blob's manifest digest (<see cref="PublishedWeights.Digest"/>), lowercase hex.</param>
/// <param name="Source">The endpoint the last chunks came from (a relay peer or the origin).</param>
/// <param name="BytesBySource">Blob bytes received from each endpoint tried, in order (a failed relay's partial share included).</param>
public sealed record WeightBlob(long Version, byte[] Bytes, string Digest, string Source, IReadOnlyList<(string Source, long Bytes)> BytesBySource);
