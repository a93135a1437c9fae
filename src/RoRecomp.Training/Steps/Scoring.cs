using RoRecomp.Core.Rewards;
using RoRecomp.Core.Rollouts;
using RoRecomp.Model.Tokenizers;
using RoRecomp.Tasks;

namespace RoRecomp.Training.Steps;

/// <summary>
/// Scores sampled groups with the task's exact verifier (reward 1/0, correctness, tool calls, format). Rewards are
/// never mixed with metrics: tool calls are recorded, not added. The length-penalty arm shapes the reward only
/// (<see cref="RewardShaping"/>); <c>Correct</c> stays the verifier's verdict, which RoRecomp ranks by.
/// </summary>
public static class Scoring
{
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
