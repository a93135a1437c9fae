using RoRecomp.Training.Steps;

namespace RoRecomp.Actors.Protocols;

// The evaluator's protocol:
//   receives  EvaluatePolicy (coordinator)   -> PolicyEvaluated (held-out split, with the policy of at least MinVersion)
//   sends     FetchPolicy (policy publisher)

/// <summary>Evaluate the policy of at least <paramref name="MinVersion"/> on the held-out split (after step <paramref name="Step"/>).</summary>
public sealed record EvaluatePolicy(long Step, long MinVersion) : IRoRecompMessage;

/// <summary>Held-out figures after step <c>Evaluation.Step</c>.</summary>
public sealed record PolicyEvaluated(HeldOutEvaluation Evaluation) : IRoRecompMessage;
