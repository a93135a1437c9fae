using System.Collections.Immutable;
using RoRecomp.Actors.Serialization;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Metrics;
using RoRecomp.Core.Training;

namespace RoRecomp.Actors.Learning;

// The learner's protocol:
//   receives  LoadPolicy (coordinator)      -> PolicyLoaded (newest loadable checkpoint, else the warm start)
//             TrainOnStep (recomposer)      -> StepTrained to the coordinator (RunCoordinatorProtocol.cs)
//             FetchPolicy (sampler)         -> PolicySnapshot (the current weights, once they are at least that version)
//             EvaluatePolicy (coordinator)  -> PolicyEvaluated (held-out split)
//   sends     DrawCompensationBatch, GetBufferStats (replay buffer)
//   writes    checkpoints (model + optimizer + RNG), committed by the coordinator's journal

/// <summary>
/// Load the policy to continue from: the first of <paramref name="Candidates"/> (newest first) that loads and verifies,
/// else the run's configured warm start (<c>model.checkpoint</c>, never a path from a message).
/// </summary>
/// <param name="Candidates">Committed checkpoints, newest first.</param>
/// <param name="TotalSteps">Steps of the run (for the compensation weight schedule and the final checkpoint).</param>
public sealed record LoadPolicy(ImmutableArray<RunCheckpoint> Candidates, long TotalSteps) : IRoRecompMessage;

/// <summary>The learner continues from <paramref name="From"/> (null = the warm start) at <paramref name="PolicyVersion"/>.</summary>
/// <param name="From">The checkpoint loaded, or null for the warm start.</param>
/// <param name="PolicyVersion">Current policy version.</param>
/// <param name="Skipped">Candidates that failed to load, with the reason.</param>
public sealed record PolicyLoaded(RunCheckpoint? From, long PolicyVersion, ImmutableArray<string> Skipped) : IRoRecompMessage;

/// <summary>Train on step <c>Online.Step</c>: the priority (or online) batch, then a compensation batch when due.</summary>
public sealed record TrainOnStep(TrainingBatch Priority, StepMetrics Online) : IRoRecompMessage;

/// <summary>A sampler wants weights of at least <paramref name="MinVersion"/>.</summary>
public sealed record FetchPolicy(long MinVersion) : IRoRecompMessage;

/// <summary>
/// The policy weights of <paramref name="Version"/> as safetensors bytes, with the model shape (JSON of
/// <c>TransformerConfig</c>). Sent as a message only inside one process; remote samplers get <see cref="PolicyAvailable"/>.
/// </summary>
public sealed record PolicySnapshot(long Version, byte[] Weights, string ModelConfigJson) : IRoRecompMessage;

/// <summary>
/// The policy weights of <paramref name="Version"/> are served by the learner's weight server at
/// <paramref name="Host"/>:<paramref name="Port"/> (a byte stream beside remoting); <paramref name="Sha256"/> is the blob's digest.
/// </summary>
public sealed record PolicyAvailable(long Version, string Host, int Port, string Sha256, long Bytes, string ModelConfigJson) : IRoRecompMessage;

/// <summary>Evaluate the current policy on the held-out split (after step <paramref name="Step"/>).</summary>
public sealed record EvaluatePolicy(long Step) : IRoRecompMessage;

/// <summary>Held-out figures after step <paramref name="Step"/>: eval-size sampled responses over the held-out prompts.</summary>
public sealed record PolicyEvaluated(long Step, double Accuracy, double MeanLength, double ToolCalls, double FormatValid, int Responses) : IRoRecompMessage;
