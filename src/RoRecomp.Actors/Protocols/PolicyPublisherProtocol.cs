using System.Collections.Immutable;

namespace RoRecomp.Actors.Protocols;

// The policy publisher's protocol (it serves the learner's weights to samplers and the evaluator):
//   receives  PublishPolicy (learner)            the weights of a new policy version
//             FetchPolicy (sampler, evaluator)   -> PolicySnapshot (in process) | PolicyAvailable (remote: fetch from
//                                                   the weight server or the relay peers it names), once a version at
//                                                   least that new is published
//   publishes PolicyUploaded on the local event stream when a version is superseded (the learner's upload for it)

/// <summary>The learner's weights of <paramref name="Version"/> (safetensors bytes) and model shape; sent in process only.</summary>
public sealed record PublishPolicy(long Version, byte[] Weights, string ModelConfigJson) : IRoRecompMessage;

/// <summary>
/// A sampler (or the evaluator) wants weights of at least <paramref name="MinVersion"/>. A remote sampler that relays
/// (<c>rorecomp.cluster.weights-relay-fanout</c> &gt; 0) names its relay server, <paramref name="RelayHost"/>:<paramref name="RelayPort"/>,
/// where it serves what it fetches to the samplers the publisher places below it; null/0 = it does not relay.
/// </summary>
public sealed record FetchPolicy(long MinVersion, string? RelayHost = null, int RelayPort = 0) : IRoRecompMessage;

/// <summary>
/// The policy weights of <paramref name="Version"/> as safetensors bytes, with the model shape (JSON of
/// <c>TransformerConfig</c>). Sent as a message only inside one process; remote samplers get <see cref="PolicyAvailable"/>.
/// </summary>
public sealed record PolicySnapshot(long Version, byte[] Weights, string ModelConfigJson) : IRoRecompMessage;

/// <summary>
/// The policy weights of <paramref name="Version"/> are served by the learner node's weight server at
/// <paramref name="Host"/>:<paramref name="Port"/> (a byte stream beside remoting); <paramref name="Digest"/> is the blob's
/// manifest digest, which every chunk is verified against whoever sends it. <paramref name="Relays"/> ("host:port",
/// nearest first) are the sampler's relay parent and grandparent: fetch from them first, the learner last.
/// <paramref name="Credential"/> (hex) is what the weight servers (the learner's and every relay's) ask of a client: only
/// cluster members are told it, and a sampler's relay server accepts the same one.
/// </summary>
public sealed record PolicyAvailable(
    long Version, string Host, int Port, string Digest, long Bytes, string ModelConfigJson, ImmutableArray<string> Relays, string Credential = "")
    : IRoRecompMessage;

/// <summary>
/// Published on the learner node's event stream when a newer version replaces <paramref name="Version"/>: the weight
/// server uploaded <paramref name="LearnerBytes"/> while <paramref name="Version"/> was the newest
/// (<paramref name="LearnerBytes"/> / <paramref name="BlobBytes"/> copies), to <paramref name="RemoteFetchers"/> remote
/// fetchers, <paramref name="RelayedFetchers"/> of them told to fetch from a relay peer first.
/// </summary>
public sealed record PolicyUploaded(long Version, long BlobBytes, long LearnerBytes, int RemoteFetchers, int RelayedFetchers);
