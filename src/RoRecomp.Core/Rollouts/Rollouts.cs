using System.Collections.Immutable;

namespace RoRecomp.Core.Rollouts;

/// <summary>A prompt of the online batch. <paramref name="Id"/> is stable across runs and resumes (e.g. "train-000042").</summary>
/// <param name="Id">Stable prompt id.</param>
/// <param name="Text">The prompt as text (for logs and verifiers).</param>
/// <param name="TokenIds">The prompt's token ids as the policy sees them.</param>
public sealed record Prompt(string Id, string Text, ImmutableArray<int> TokenIds);

/// <summary>
/// One sampled response with everything RoRecomp and the learner need. Immutable; the verifier fills
/// <see cref="Reward"/>, <see cref="Correct"/>, <see cref="ToolCalls"/> and <see cref="FormatValid"/> with <c>with</c>.
/// </summary>
/// <param name="Id">Stable, unique id of this response (e.g. "{leaseId}/{sampleIndex}"): the replay buffer's key.</param>
/// <param name="PromptId">The prompt it answers; responses with the same prompt id and step form a GRPO group.</param>
/// <param name="SampleIndex">Index of this sample inside its group (0..G-1).</param>
/// <param name="Step">Training step whose online batch produced it.</param>
/// <param name="PolicyVersion">Version of the policy that sampled it (the behaviour policy).</param>
/// <param name="PromptTokens">Prompt token ids (the conditioning context).</param>
/// <param name="Tokens">Response token ids (what is trained on).</param>
/// <param name="LogProbs">Behaviour log-probabilities, one per response token, recorded at sampling time.</param>
/// <param name="Reward">Verifiable reward (1 correct / 0 incorrect unless a reward-shaping arm says otherwise).</param>
/// <param name="Correct">The verifier's verdict, independent of any reward shaping. RoRecomp ranks by this.</param>
/// <param name="ToolCalls">Tool calls made in the episode (agentic tasks; 0 otherwise). A metric, never added to the reward.</param>
/// <param name="FormatValid">Whether the response had the expected format.</param>
/// <param name="ActionMask">Per response token: true where the policy produced the token (trained on), false where the
/// environment inserted it (tool results). Default (empty) means every token is the policy's.</param>
public sealed record Response(
    string Id,
    string PromptId,
    int SampleIndex,
    long Step,
    long PolicyVersion,
    ImmutableArray<int> PromptTokens,
    ImmutableArray<int> Tokens,
    ImmutableArray<float> LogProbs,
    double Reward = 0,
    bool Correct = false,
    int ToolCalls = 0,
    bool FormatValid = true,
    ImmutableArray<bool> ActionMask = default)
{
    /// <summary>Whether response token <paramref name="i"/> was produced by the policy (and so is trained on).</summary>
    public bool IsAction(int i) => ActionMask.IsDefaultOrEmpty || ActionMask[i];

    /// <summary>Response length in tokens.</summary>
    public int Length => Tokens.IsDefault ? 0 : Tokens.Length;
}

/// <summary>The G responses sampled for one prompt at one step (a GRPO group).</summary>
public sealed record RolloutGroup(string PromptId, long Step, ImmutableArray<Response> Responses);
