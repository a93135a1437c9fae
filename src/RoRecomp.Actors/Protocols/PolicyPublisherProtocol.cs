namespace RoRecomp.Actors.Protocols;

// The policy publisher's protocol (it serves the learner's weights to samplers and the evaluator):
//   receives  PublishPolicy (learner)            the weights of a new policy version
//             FetchPolicy (sampler, evaluator)   -> PolicySnapshot (in process) | PolicyAvailable (remote: fetch from
//                                                   the weight server), once a version at least that new is published

/// <summary>The learner's weights of <paramref name="Version"/> (safetensors bytes) and model shape; sent in process only.</summary>
public sealed record PublishPolicy(long Version, byte[] Weights, string ModelConfigJson) : IRoRecompMessage;

/// <summary>A sampler (or the evaluator) wants weights of at least <paramref name="MinVersion"/>.</summary>
public sealed record FetchPolicy(long MinVersion) : IRoRecompMessage;

/// <summary>
/// The policy weights of <paramref name="Version"/> as safetensors bytes, with the model shape (JSON of
/// <c>TransformerConfig</c>). Sent as a message only inside one process; remote samplers get <see cref="PolicyAvailable"/>.
/// </summary>
public sealed record PolicySnapshot(long Version, byte[] Weights, string ModelConfigJson) : IRoRecompMessage;

/// <summary>
/// The policy weights of <paramref name="Version"/> are served by the learner node's weight server at
/// <paramref name="Host"/>:<paramref name="Port"/> (a byte stream beside remoting); <paramref name="Sha256"/> is the blob's digest.
/// <paramref name="Credential"/> (hex) is what the weight server asks of a client: only cluster members are told it.
/// </summary>
public sealed record PolicyAvailable(long Version, string Host, int Port, string Sha256, long Bytes, string ModelConfigJson, string Credential = "") : IRoRecompMessage;
