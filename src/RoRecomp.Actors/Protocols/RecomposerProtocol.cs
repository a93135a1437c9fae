using System.Collections.Immutable;

namespace RoRecomp.Actors.Protocols;

// The recomposer's protocol:
//   receives  StepOpened (coordinator)       the prompts of a step's online batch
//             RolloutsScored (verifier)      verified groups of one lease (VerifierProtocol.cs); duplicates ignored
//   sends     LeaseCompleted (coordinator), StoreResponses (replay buffer, retried until acknowledged),
//             TrainOnStep (learner, steps in order, after the step's compensation remainder is durable)

/// <summary>Step <paramref name="Step"/> is open: its online batch is one group per prompt of <paramref name="PromptIds"/>.</summary>
/// <param name="Step">The step.</param>
/// <param name="PolicyVersion">Policy version its leases were issued with.</param>
/// <param name="PromptIds">The step's prompt ids, in batch order.</param>
public sealed record StepOpened(long Step, long PolicyVersion, ImmutableArray<string> PromptIds) : IRoRecompMessage;
