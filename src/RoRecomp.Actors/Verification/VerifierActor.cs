using Akka.Actor;
using RoRecomp.Actors.Protocols;
using RoRecomp.Settings;
using RoRecomp.Training;
using RoRecomp.Training.Steps;

namespace RoRecomp.Actors.Verification;

/// <summary>
/// A verifier: scores each response of a lease with the task's exact verifier (reward 1/0, correctness, tool calls,
/// format) and forwards the groups to the recomposer. Stateless; a pool of them can run on any node. Rewards are never
/// mixed with metrics: tool calls are recorded, not added. The length-penalty arm (<c>rorecomp.reward.*</c>) shapes
/// the reward only (<see cref="Scoring.Score"/>); <c>Correct</c> stays the verifier's verdict, which RoRecomp ranks by.
/// </summary>
public sealed class VerifierActor : ReceiveActor
{
    /// <summary>Creates the verifier; use <see cref="Props"/>.</summary>
    public VerifierActor(RunContext context, IActorRef recomposer)
    {
        var task = context.CreateTask();
        var tokenizer = context.CreateTokenizer(task);
        var shaping = SettingsMapping.RewardShaping(context.Settings);
        Receive<VerifyRollouts>(m => recomposer.Tell(new RolloutsScored(m.LeaseId, m.Step, [.. m.Groups.Select(g => Scoring.Score(task, tokenizer, g, shaping))])));
    }

    /// <summary>Props of a verifier that sends to <paramref name="recomposer"/>.</summary>
    public static Props Props(RunContext context, IActorRef recomposer) =>
        Akka.Actor.Props.Create(() => new VerifierActor(context, recomposer));
}
