using System.Collections.Immutable;
using Akka.Actor;
using RoRecomp.Actors.Pipeline;
using RoRecomp.Core.Rollouts;
using RoRecomp.Model.Tokenizers;
using RoRecomp.Tasks;

namespace RoRecomp.Actors.Verification;

/// <summary>
/// A verifier: scores each response of a lease with the task's exact verifier (reward 1/0, correctness, tool calls,
/// format) and forwards the groups to the recomposer. Stateless; a pool of them can run on any node. Rewards are never
/// mixed with metrics: tool calls are recorded, not added. The length-penalty arm (<c>rorecomp.reward.*</c>) shapes
/// the reward only (<see cref="RewardShaping"/>); <c>Correct</c> stays the verifier's verdict, which RoRecomp ranks by.
/// </summary>
public sealed class VerifierActor : ReceiveActor
{
    /// <summary>Creates the verifier; use <see cref="Props"/>.</summary>
    public VerifierActor(PipelineContext context, IActorRef recomposer)
    {
        var task = context.CreateTask();
        var tokenizer = PipelineContext.Tokenizer(task);
        var shaping = RewardShaping.From(context.Settings);
        Receive<VerifyRollouts>(m => recomposer.Tell(new RolloutsScored(m.LeaseId, m.Step, [.. m.Groups.Select(g => Score(task, tokenizer, g, shaping))])));
    }

    /// <summary>Props of a verifier that sends to <paramref name="recomposer"/>.</summary>
    public static Props Props(PipelineContext context, IActorRef recomposer) =>
        Akka.Actor.Props.Create(() => new VerifierActor(context, recomposer));

    /// <summary>Verifies every response of a group against its prompt; <paramref name="shaping"/> (default none) shapes the reward only.</summary>
    public static RolloutGroup Score(IRlTask task, ITokenizer tokenizer, RolloutGroup group, RewardShaping? shaping = null)
    {
        shaping ??= RewardShaping.None;
        var prompt = task.Resolve(group.PromptId);
        return group with
        {
            Responses = [.. group.Responses.Select(r =>
            {
                var verdict = task.Verify(prompt, tokenizer.Decode([.. r.Tokens]));
                return r with { Reward = shaping.Shape(verdict.Reward, verdict.Correct, r.Length), Correct = verdict.Correct, ToolCalls = verdict.ToolCalls, FormatValid = verdict.FormatValid };
            })],
        };
    }
}
