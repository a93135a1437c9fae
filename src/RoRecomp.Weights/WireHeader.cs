namespace RoRecomp.Weights;

/// <summary>A response header of the weight-transfer protocol (<see cref="WeightWire"/>).</summary>
/// <param name="Status">Whether the manifest and the blob follow.</param>
/// <param name="Version">The blob's version when <see cref="WeightStatus.Ok"/>, else the newest version held (-1 = none).</param>
/// <param name="Length">Bytes of the whole blob (0 unless Ok).</param>
/// <param name="ChunkBytes">Bytes per chunk (the last chunk may be shorter; 0 unless Ok).</param>
/// <param name="Digest">The blob's manifest digest (<see cref="WeightWire.ManifestDigest"/>; zeros unless Ok).</param>
internal readonly record struct WireHeader(WeightStatus Status, long Version, long Length, int ChunkBytes, ReadOnlyMemory<byte> Digest);

/// <summary>
/// A request of the weight-transfer protocol: <paramref name="Version"/> (-1 = newest), from chunk <paramref name="FirstChunk"/>
/// on, with the <paramref name="Credential"/> the client presents (<see cref="WeightWire.CredentialBytes"/> bytes).
/// </summary>
internal readonly record struct WireRequest(long Version, int FirstChunk, byte[] Credential);
