using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using RoRecomp.Core.Randomness;

namespace RoRecomp.Tasks.Synthetic;

/// <summary>
/// What the synthetic tasks share. Their prompts are problems of a <see cref="ProblemSpace"/> written as the problem's
/// key followed by "=", with the problem's value as the answer; their responses follow the
/// <c>&lt;think&gt;…&lt;/think&gt;&lt;answer&gt;N&lt;/answer&gt;[&lt;eos&gt;]</c> skeleton. A task adds only what is its
/// own: its problem generator (<see cref="UseProblems"/>, <see cref="Key"/>, <see cref="Evaluate"/>), the think part of
/// its warm-start traces (<see cref="WriteThink"/>) and the check of a think part (<see cref="CheckThink"/>).
/// </summary>
/// <typeparam name="TOptions">The task's options.</typeparam>
public abstract class SyntheticTask<TOptions> : IRlTask
    where TOptions : SyntheticOptions
{
    private ProblemSpace? _space;

    /// <summary>Validates the shared options; the task's constructor then validates its own and calls <see cref="UseProblems"/>.</summary>
    private protected SyntheticTask(string name, string alphabet, ImmutableArray<string> specialTokens, TOptions options)
    {
        Name = name;
        Alphabet = alphabet;
        SpecialTokens = specialTokens;
        Options = options;
        options.Validate(name);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public string Alphabet { get; }

    /// <inheritdoc />
    public ImmutableArray<string> SpecialTokens { get; }

    /// <inheritdoc />
    public virtual IToolEnvironment? Tools => null;

    /// <summary>The options in effect.</summary>
    public TOptions Options { get; }

    private ProblemSpace Space => _space ?? throw new InvalidOperationException($"Task '{Name}' has no problem space: its constructor must call UseProblems.");

    /// <inheritdoc />
    public long DistinctPrompts(Split split) => Space.Count(split);

    /// <inheritdoc />
    public TaskPrompt GetPrompt(Split split, long index)
    {
        var operands = Space.Get(split, index);
        return new TaskPrompt(TaskPrompt.MakeId(split, index), split, index, Key(operands) + "=",
            Evaluate(operands).ToString(CultureInfo.InvariantCulture), operands);
    }

    /// <inheritdoc />
    public string Trace(TaskPrompt prompt, Random rng)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(rng);
        var sb = new StringBuilder(Tokens.ThinkOpen);
        var answer = WriteThink(prompt, rng, sb);
        return sb.Append(Tokens.ThinkClose).Append(Tokens.AnswerOpen).Append(answer).Append(Tokens.AnswerClose).Append(Tokens.Eos).ToString();
    }

    /// <inheritdoc />
    public Verdict Verify(TaskPrompt prompt, string response)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        int calls = CountToolCalls(response);
        if (!ReasoningFormat.TrySplit(response, out var think, out var answer, out var problem))
            return Verdict.Invalid(problem!, calls);
        int rechecks = CountRechecks(think);
        var error = CheckThink(prompt, think);
        if (error is not null) return new Verdict(0, false, false, calls, answer, rechecks, error);
        bool correct = answer == prompt.Answer;
        return new Verdict(correct ? 1 : 0, correct, true, calls, answer, rechecks);
    }

    /// <summary>
    /// Sets the task's problems: <paramref name="size"/> of them, the n-th given by <paramref name="nth"/> when the space
    /// is small enough to enumerate, else drawn by <paramref name="draw"/>; <see cref="Key"/> picks each one's split.
    /// </summary>
    private protected void UseProblems(long size, Func<long, ImmutableArray<long>> nth, Func<SplitMix64, ImmutableArray<long>> draw) =>
        _space = new ProblemSpace(Options, size, nth, draw, Key);

    /// <summary>The canonical text of a problem: the prompt without its trailing "=", hashed to pick the split.</summary>
    private protected abstract string Key(ImmutableArray<long> operands);

    /// <summary>The reference answer of a problem.</summary>
    private protected abstract long Evaluate(ImmutableArray<long> operands);

    /// <summary>Appends the think part of a warm-start trace (after "&lt;think&gt;") and returns the trace's answer.</summary>
    private protected abstract string WriteThink(TaskPrompt prompt, Random rng, StringBuilder think);

    /// <summary>Why the think part of a response breaks the task's grammar, or null when it follows it.</summary>
    private protected abstract string? CheckThink(TaskPrompt prompt, string think);

    /// <summary>The re-check passes of a think part (<see cref="Verdict.Rechecks"/>); 0 unless the task has re-checks.</summary>
    private protected virtual int CountRechecks(string think) => 0;

    /// <summary>The tool calls in a response (<see cref="Verdict.ToolCalls"/>); 0 unless the task has tools.</summary>
    private protected virtual int CountToolCalls(string? response) => 0;
}
