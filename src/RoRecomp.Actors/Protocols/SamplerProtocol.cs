namespace RoRecomp.Actors.Protocols;

// The sampler's protocol:
//   receives  LeaseGranted (coordinator), PolicySnapshot | PolicyAvailable (policy publisher)
//   sends     RequestWork (coordinator), FetchPolicy (policy publisher), VerifyRollouts (verifiers)
//   publishes LeaseSampled, PolicyFetched on the local event stream (a node's progress output)

/// <summary>Published on the local event stream when a sampler finished a lease (for a node's progress output).</summary>
public sealed record LeaseSampled(string SamplerId, string LeaseId, long Step, long PolicyVersion, int Responses, int Tokens, double Seconds);

/// <summary>Published on the local event stream when a sampler fetched policy weights from the learner node's weight server.</summary>
public sealed record PolicyFetched(string SamplerId, long Version, long Bytes, string From, double Seconds);
