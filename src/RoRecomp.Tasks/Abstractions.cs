using System.Collections.Immutable;
using System.Globalization;

namespace RoRecomp.Tasks;

/// <summary>Which half of a task's prompts: train prompts are never test prompts (disjoint by construction).</summary>
public enum Split
{
    /// <summary>Prompts used for SFT and RL training.</summary>
    Train,

    /// <summary>Held-out prompts for evaluation.</summary>
    Test,
}

/// <summary>
/// One prompt of a task with its reference data. <see cref="Id"/> is stable ("train-000042"): the same task, seed,
/// split and index always give the same prompt, so a data cursor can resume exactly and a verifier can rebuild the
/// prompt from its id alone (<see cref="RlTaskExtensions.Resolve"/>).
/// </summary>
/// <param name="Id">Stable id "{split}-{index:D6}".</param>
/// <param name="Split">The split it belongs to.</param>
/// <param name="Index">Its index in the split's deterministic stream.</param>
/// <param name="Text">The prompt text the policy is conditioned on.</param>
/// <param name="Answer">The reference final answer as text (e.g. "17").</param>
/// <param name="Operands">Synthetic tasks: the numbers the prompt was built from (empty for datasets).</param>
public sealed record TaskPrompt(string Id, Split Split, long Index, string Text, string Answer, ImmutableArray<long> Operands)
{
    /// <summary>Builds the stable id of <paramref name="index"/> in <paramref name="split"/>.</summary>
    public static string MakeId(Split split, long index) =>
        string.Create(CultureInfo.InvariantCulture, $"{(split == Split.Train ? "train" : "test")}-{index:D6}");

    /// <summary>Parses an id made by <see cref="MakeId"/>; false for anything else.</summary>
    public static bool TryParseId(string? id, out Split split, out long index)
    {
        split = Split.Train;
        index = -1;
        if (id is null) return false;
        var dash = id.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0) return false;
        var head = id[..dash];
        if (head == "train") split = Split.Train;
        else if (head == "test") split = Split.Test;
        else return false;
        return long.TryParse(id.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out index);
    }
}

/// <summary>
/// What a verifier says about one response. The reward is 1 for a correct answer and 0 otherwise; format validity,
/// tool calls and task metrics are recorded beside it and never added to the reward. The response length in tokens is
/// counted by the caller (it owns the tokenizer).
/// </summary>
/// <param name="Reward">1 when <see cref="Correct"/>, else 0.</param>
/// <param name="Correct">The extracted final answer equals the reference answer.</param>
/// <param name="FormatValid">The response follows the task's grammar exactly (see each task's documentation).</param>
/// <param name="ToolCalls">Tool calls in the episode (agentic tasks; 0 otherwise).</param>
/// <param name="Answer">The extracted final answer, or null when none could be found.</param>
/// <param name="Rechecks">Thinking task: re-check passes after the first pass (0 otherwise).</param>
/// <param name="Problem">Why the format is invalid or no answer was found (null when all is well).</param>
public sealed record Verdict(
    double Reward,
    bool Correct,
    bool FormatValid,
    int ToolCalls,
    string? Answer,
    int Rechecks = 0,
    string? Problem = null)
{
    /// <summary>A verdict for a response with no usable answer.</summary>
    public static Verdict Invalid(string problem, int toolCalls = 0) => new(0, false, false, toolCalls, null, 0, problem);
}

/// <summary>
/// A task the RL loop trains on: a deterministic, indexable prompt stream per split, a verifier, warm-start traces
/// for SFT and, for agentic tasks, a tool environment. Implementations are immutable and thread-safe.
/// </summary>
public interface IRlTask
{
    /// <summary>The registry name ("thinking", "zero-rl", "agentic", "jsonl").</summary>
    string Name { get; }

    /// <summary>
    /// Every ordinary character prompts and responses of this task use (for the character-level tokenizer), in a fixed
    /// order. Empty for tasks over natural text (datasets), which use the model's own tokenizer.
    /// </summary>
    string Alphabet { get; }

    /// <summary>Special-token strings the task's text uses, each to become a single token (e.g. "&lt;think&gt;").</summary>
    ImmutableArray<string> SpecialTokens { get; }

    /// <summary>Number of distinct prompts in <paramref name="split"/> (the stream itself is unbounded and may repeat).</summary>
    long DistinctPrompts(Split split);

    /// <summary>The prompt at <paramref name="index"/> (>= 0) of <paramref name="split"/>; the same arguments always give the same prompt.</summary>
    TaskPrompt GetPrompt(Split split, long index);

    /// <summary>Scores a response (the text after the prompt, tool results included). Never throws on odd model output.</summary>
    Verdict Verify(TaskPrompt prompt, string response);

    /// <summary>A warm-start SFT response for <paramref name="prompt"/> drawn with <paramref name="rng"/> (not always correct: see the task).</summary>
    string Trace(TaskPrompt prompt, Random rng);

    /// <summary>The tool environment of an agentic task, or null.</summary>
    IToolEnvironment? Tools { get; }
}

/// <summary>
/// An agentic task that can tell a response's unnecessary tool calls from the necessary ones: the paper's agentic metric
/// is unnecessary tool calls, which the total (<see cref="Verdict.ToolCalls"/>) mixes with the calls a solution needs.
/// Held-out evaluations record its mean (<c>eval_unnecessary_tool_calls</c>) for tasks that implement it.
/// </summary>
public interface IToolCallAudit
{
    /// <summary>The tool calls of <paramref name="response"/> that its problem did not need. Never throws on odd model output.</summary>
    int UnnecessaryCalls(TaskPrompt prompt, string response);
}

/// <summary>Helpers over any <see cref="IRlTask"/>.</summary>
public static class RlTaskExtensions
{
    /// <summary>Rebuilds a prompt from its stable id ("train-000042"); throws <see cref="ArgumentException"/> for a malformed id.</summary>
    public static TaskPrompt Resolve(this IRlTask task, string id)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (!TaskPrompt.TryParseId(id, out var split, out var index))
            throw new ArgumentException($"'{id}' is not a prompt id of task '{task.Name}': expected 'train-NNNNNN' or 'test-NNNNNN'.", nameof(id));
        return task.GetPrompt(split, index);
    }

    /// <summary>The prompts at indices [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) of a split.</summary>
    public static IEnumerable<TaskPrompt> Prompts(this IRlTask task, Split split, long start, int count)
    {
        ArgumentNullException.ThrowIfNull(task);
        for (long i = start; i < start + count; i++) yield return task.GetPrompt(split, i);
    }
}

/// <summary>
/// The tool side of an agentic episode, stateless per step so it can serve a batch of episodes: given the episode text so
/// far (prompt excluded or included, it only looks at tool tags), ending with the tool-call close tag, it says what to
/// append and whether the episode must end. The sampler samples until the close tag or end of sequence, calls
/// <see cref="Step"/>, appends <see cref="ToolStep.Append"/> (not trained on: action mask false) and resumes unless
/// <see cref="ToolStep.Done"/>.
/// </summary>
public interface IToolEnvironment
{
    /// <summary>Tag that opens a tool call ("&lt;tool&gt;").</summary>
    string CallOpen { get; }

    /// <summary>Tag that closes a tool call; the sampler stops on it ("&lt;/tool&gt;").</summary>
    string CallClose { get; }

    /// <summary>Most tool calls one episode may make; the call past it gets an error result and ends the episode.</summary>
    int MaxCalls { get; }

    /// <summary>Answers the last tool call of <paramref name="episode"/>. Never throws on odd model output.</summary>
    ToolStep Step(string episode);

    /// <summary>Answers the last tool call of each episode of a batch (episodes are independent: order does not matter).</summary>
    ImmutableArray<ToolStep> StepAll(IReadOnlyList<string> episodes)
    {
        ArgumentNullException.ThrowIfNull(episodes);
        var steps = ImmutableArray.CreateBuilder<ToolStep>(episodes.Count);
        foreach (var e in episodes) steps.Add(Step(e));
        return steps.MoveToImmutable();
    }
}

/// <summary>The environment's answer to one tool call.</summary>
/// <param name="Append">Text to append to the episode (a result element, possibly an error result).</param>
/// <param name="Done">The episode must end here (call limit reached or no call to answer).</param>
/// <param name="Error">The call was rejected (bad syntax, unknown tool, over a limit); null when it succeeded.</param>
public sealed record ToolStep(string Append, bool Done, string? Error = null);
