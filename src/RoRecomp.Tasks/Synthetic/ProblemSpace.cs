using System.Collections.Immutable;
using RoRecomp.Core.Randomness;

namespace RoRecomp.Tasks.Synthetic;

/// <summary>
/// The problems of a synthetic task split into train and test. When the space is small enough to enumerate, a split's
/// stream is a sequence of passes over its distinct problems, each pass in its own seeded order: indices
/// 0..DistinctPrompts-1 cover every problem of the split exactly once (an evaluation over the test split sees each test
/// problem once; training reads epochs). Larger spaces are sampled by rejection on the split hash. Either way a problem
/// depends only on (seed, split, index), and train and test never share a problem.
/// </summary>
internal sealed class ProblemSpace
{
    /// <summary>Largest space enumerated at construction.</summary>
    public const long MaxEnumerated = 200_000;

    private readonly SyntheticOptions _options;
    private readonly Func<SplitMix64, ImmutableArray<long>> _draw;
    private readonly Func<ImmutableArray<long>, string> _key;
    private readonly ImmutableArray<ImmutableArray<long>> _train;
    private readonly ImmutableArray<ImmutableArray<long>> _test;
    private readonly long _trainCount;
    private readonly long _testCount;
    private readonly PassOrder _passes = new();

    /// <param name="options">Seed and test share.</param>
    /// <param name="size">Number of problems in the space.</param>
    /// <param name="nth">The n-th problem of the space (0 &lt;= n &lt; size), used when the space is enumerated.</param>
    /// <param name="draw">A random problem, used when the space is too large to enumerate.</param>
    /// <param name="key">The canonical text of a problem, hashed to pick its split.</param>
    public ProblemSpace(SyntheticOptions options, long size, Func<long, ImmutableArray<long>> nth,
        Func<SplitMix64, ImmutableArray<long>> draw, Func<ImmutableArray<long>, string> key)
    {
        _options = options;
        _draw = draw;
        _key = key;
        if (size <= MaxEnumerated)
        {
            var train = ImmutableArray.CreateBuilder<ImmutableArray<long>>();
            var test = ImmutableArray.CreateBuilder<ImmutableArray<long>>();
            for (long n = 0; n < size; n++)
            {
                var p = nth(n);
                (SplitRandom.SplitOf(key(p), options.Seed, options.TestPercent) == Split.Test ? test : train).Add(p);
            }
            _train = train.ToImmutable();
            _test = test.ToImmutable();
            _trainCount = _train.Length;
            _testCount = _test.Length;
        }
        else
        {
            _testCount = size * options.TestPercent / 100;
            _trainCount = size - _testCount;
        }
    }

    /// <summary>Whether the streams are passes over enumerated problems (else rejection sampling).</summary>
    public bool Enumerated => !_train.IsDefault;

    /// <summary>Distinct problems in <paramref name="split"/> (expected count when not enumerated).</summary>
    public long Count(Split split) => split == Split.Train ? _trainCount : _testCount;

    /// <summary>The problem at <paramref name="index"/> of <paramref name="split"/>'s stream.</summary>
    public ImmutableArray<long> Get(Split split, long index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        if (!Enumerated) return SplitSampler.Draw(_options, split, index, _draw, _key);
        var problems = split == Split.Train ? _train : _test;
        if (problems.IsEmpty)
            throw new InvalidOperationException($"The {split} split has no problems: raise test-percent or use a larger problem space.");
        return problems[_passes.ItemAt(index, problems.Length, pass => SplitRandom.StateFor(_options.Seed, split, pass, int.MaxValue))];
    }
}
