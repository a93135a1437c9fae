using System.Collections.Immutable;
using RoRecomp.Core.Randomness;
using RoRecomp.Tasks.Answers;
using RoRecomp.Tasks.Synthetic;

namespace RoRecomp.Tasks.Datasets;

/// <summary>Options of <see cref="JsonlTask"/>.</summary>
/// <param name="TrainPath">JSONL file of training problems.</param>
/// <param name="TestPath">JSONL file of test problems; when null, <paramref name="TestPercent"/>% of the training file
/// (by a hash of the question) is held out instead.</param>
/// <param name="Format">Field names and answer style.</param>
/// <param name="PromptTemplate">Prompt text with <c>{question}</c> where the problem goes.</param>
/// <param name="Seed">Shuffles the order of each pass over the data.</param>
/// <param name="TestPercent">Held-out share when there is no test file.</param>
/// <param name="RelativeTolerance">Verifier tolerance for decimals.</param>
public sealed record JsonlTaskOptions(
    string TrainPath,
    string? TestPath,
    JsonlFormat Format,
    string PromptTemplate = "{question}",
    int Seed = 0,
    int TestPercent = 10,
    double RelativeTolerance = 1e-4);

/// <summary>
/// A math dataset as an RL task, verified by <see cref="MathAnswerVerifier"/>. The prompt stream of a split is an endless
/// sequence of passes over its problems, each pass in its own seeded order, so index i is always the same problem.
/// Its SFT trace is the dataset's own solution. Natural text: <see cref="Alphabet"/> is empty (the model's tokenizer).
/// </summary>
public sealed class JsonlTask : IRlTask
{
    private readonly JsonlTaskOptions _options;
    private readonly ImmutableArray<MathProblem> _train;
    private readonly ImmutableArray<MathProblem> _test;
    private readonly MathAnswerVerifier _verifier;
    private readonly PassOrder _passes = new();

    /// <summary>Loads the dataset file(s); throws <see cref="DatasetFormatException"/> or <see cref="FileNotFoundException"/>.</summary>
    public JsonlTask(JsonlTaskOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        if (!options.PromptTemplate.Contains("{question}", StringComparison.Ordinal))
            throw new ArgumentException($"jsonl: prompt-template '{options.PromptTemplate}' has no '{{question}}' placeholder.", nameof(options));
        var train = JsonlDataset.Load(options.TrainPath, options.Format);
        Skipped = train.Skipped;
        if (options.TestPath is not null)
        {
            var test = JsonlDataset.Load(options.TestPath, options.Format);
            _train = train.Problems;
            _test = test.Problems;
            Skipped = Skipped.AddRange(test.Skipped);
        }
        else
        {
            if (options.TestPercent is < 1 or > 50) throw new ArgumentOutOfRangeException(nameof(options), options.TestPercent, "jsonl: test-percent must be in 1..50.");
            _train = [.. train.Problems.Where(p => SplitRandom.SplitOf(p.Question, options.Seed, options.TestPercent) == Split.Train)];
            _test = [.. train.Problems.Where(p => SplitRandom.SplitOf(p.Question, options.Seed, options.TestPercent) == Split.Test)];
            if (_train.IsEmpty || _test.IsEmpty)
                throw new ArgumentException($"jsonl: '{options.TrainPath}' has too few rows ({train.Problems.Length}) to hold out {options.TestPercent}% as a test split; give a test-path.", nameof(options));
        }
        _verifier = new MathAnswerVerifier(options.RelativeTolerance);
    }

    /// <summary>Malformed rows skipped while loading ("path:line: problem").</summary>
    public ImmutableArray<string> Skipped { get; }

    /// <inheritdoc />
    public string Name => "jsonl";

    /// <inheritdoc />
    public string Alphabet => "";

    /// <inheritdoc />
    public ImmutableArray<string> SpecialTokens => [];

    /// <inheritdoc />
    public IToolEnvironment? Tools => null;

    /// <inheritdoc />
    public long DistinctPrompts(Split split) => Problems(split).Length;

    /// <inheritdoc />
    public TaskPrompt GetPrompt(Split split, long index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        var p = At(split, index);
        return new TaskPrompt(TaskPrompt.MakeId(split, index), split, index,
            _options.PromptTemplate.Replace("{question}", p.Question, StringComparison.Ordinal), p.Answer, []);
    }

    /// <inheritdoc />
    public Verdict Verify(TaskPrompt prompt, string response)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return _verifier.Verify(response, prompt.Answer);
    }

    /// <summary>The dataset's own solution for the prompt (the rng is unused: there is one solution per problem).</summary>
    public string Trace(TaskPrompt prompt, Random rng)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return At(prompt.Split, prompt.Index).Solution;
    }

    private ImmutableArray<MathProblem> Problems(Split split) => split == Split.Train ? _train : _test;

    /// <summary>The problem at <paramref name="index"/> of <paramref name="split"/>'s stream: passes in seeded orders.</summary>
    private MathProblem At(Split split, long index)
    {
        var problems = Problems(split);
        return problems[_passes.ItemAt(index, problems.Length, pass => SplitMix64.Mix(((ulong)(uint)_options.Seed * 31UL) + (ulong)pass + 1))];
    }
}
