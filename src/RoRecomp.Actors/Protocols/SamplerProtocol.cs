namespace RoRecomp.Actors.Protocols;

// The sampler's protocol:
//   receives  LeaseGranted | WorkRefused (coordinator), PolicySnapshot | PolicyAvailable (policy publisher)
//   sends     RequestWork (coordinator), FetchPolicy (policy publisher), VerifyRollouts (verifiers)
//   publishes LeaseSampled, PolicyFetched, SamplerRefused on the local event stream (a node's progress output)

/// <summary>Published on the local event stream when a sampler finished a lease (for a node's progress output).</summary>
public sealed record LeaseSampled(string SamplerId, string LeaseId, long Step, long PolicyVersion, int Responses, int Tokens, double Seconds);

/// <summary>Published on the local event stream when a sampler fetched policy weights from the learner node's weight server.</summary>
public sealed record PolicyFetched(string SamplerId, long Version, long Bytes, string From, double Seconds);

/// <summary>
/// Published on the local event stream when the coordinator refused a sampler (its run configuration is another run's);
/// <paramref name="Differences"/> name the keys (<c>key: node A, learner B</c>). The sampler stops; the node exits.
/// </summary>
public sealed record SamplerRefused(string SamplerId, string Reason, IReadOnlyList<string> Differences);
