using System.Collections.Immutable;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Actors.Protocols;

// The verifier's protocol:
//   receives  VerifyRollouts (sampler)   unverified groups of one lease
//   sends     RolloutsScored (recomposer) the same groups with reward, correctness, tool calls and format filled in

/// <summary>Groups a sampler produced for lease <paramref name="LeaseId"/>, not yet verified.</summary>
public sealed record VerifyRollouts(string LeaseId, long Step, ImmutableArray<RolloutGroup> Groups) : IRoRecompMessage;

/// <summary>The verified groups of lease <paramref name="LeaseId"/>.</summary>
public sealed record RolloutsScored(string LeaseId, long Step, ImmutableArray<RolloutGroup> Groups) : IRoRecompMessage;
