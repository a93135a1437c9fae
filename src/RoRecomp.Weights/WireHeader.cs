namespace RoRecomp.Weights;

/// <summary>A response header of the weight-transfer protocol (<see cref="WeightWire"/>).</summary>
/// <param name="Status">Whether the blob follows.</param>
/// <param name="Version">The blob's version when <see cref="WeightStatus.Ok"/>, else the newest version held (-1 = none).</param>
/// <param name="Length">Blob bytes that follow (0 unless Ok).</param>
/// <param name="ChunkBytes">Bytes per chunk (the last chunk may be shorter; 0 unless Ok).</param>
/// <param name="Sha256">SHA-256 of the whole blob (zeros unless Ok).</param>
internal readonly record struct WireHeader(WeightStatus Status, long Version, long Length, int ChunkBytes, ReadOnlyMemory<byte> Sha256);
