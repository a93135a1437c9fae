namespace RoRecomp.Weights;

/// <summary>A blob <see cref="WeightServer.Publish"/> now serves: what a learner tells samplers beside the server's endpoint.</summary>
/// <param name="Version">The policy version.</param>
/// <param name="Length">The blob's size in bytes.</param>
/// <param name="Sha256">The blob's SHA-256, lowercase hex.</param>
public sealed record PublishedWeights(long Version, long Length, string Sha256);
