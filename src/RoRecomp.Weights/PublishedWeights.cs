namespace RoRecomp.Weights;

/// <summary>A blob a <see cref="WeightServer"/> now serves: what a learner tells samplers beside the server's endpoint.</summary>
/// <param name="Version">The policy version.</param>
/// <param name="Length">The blob's size in bytes.</param>
/// <param name="Digest">The blob's manifest digest, lowercase hex: SHA-256 over its length, chunk size and the SHA-256 of every chunk.</param>
/// <param name="ChunkBytes">Bytes per chunk.</param>
public sealed record PublishedWeights(long Version, long Length, string Digest, int ChunkBytes);
