using System.Collections.Immutable;
using RoRecomp.Core.Advantages;
using RoRecomp.Core.Recomposition;
using RoRecomp.Core.Rollouts;
using RoRecomp.Core.Training;

namespace RoRecomp.Core.Tests;

public class RecomposerTests
{
    private static readonly RecompositionOptions Defaults = RecompositionOptions.Default;

    [Fact]
    public void Priority_and_compensation_partition_the_online_batch()
    {
        foreach (var seed in Gen.Seeds())
        {
            foreach (var scope in new[] { RankScope.Batch, RankScope.Group })
            {
                var online = Gen.Batch(seed, b: 1 + (seed % 6), g: 1 + (seed % 9));
                var result = Recomposer.Recompose(online, Defaults with { Scope = scope, PriorityFraction = 0.1 + (seed % 10) / 10.0 }, seed);
                var ids = online.SelectMany(g => g.Responses).Select(r => r.Id).ToList();
                var got = result.Priority.Samples.Select(s => s.Response.Id).Concat(result.Compensation.Select(r => r.Id)).ToList();
                Assert.Equal(ids.Count, got.Count);
                Assert.Equal(ids.OrderBy(x => x, StringComparer.Ordinal), got.OrderBy(x => x, StringComparer.Ordinal));
                Assert.Equal(BatchKind.Priority, result.Priority.Kind);
            }
        }
    }

    [Fact]
    public void Batch_scope_selects_the_shortest_correct_and_longest_incorrect()
    {
        foreach (var seed in Gen.Seeds())
        {
            var online = Gen.Batch(seed);
            var result = Recomposer.Recompose(online, Defaults, seed);
            AssertExtremes(result.Priority.Samples.Select(s => s.Response).ToList(), result.Compensation);
            var correct = online.SelectMany(g => g.Responses).Count(r => r.Correct);
            Assert.Equal(Recomposer.Quota(correct, 0.5), result.Stats.ShortCorrect);
        }
    }

    [Fact]
    public void Group_scope_selects_extremes_inside_each_group()
    {
        foreach (var seed in Gen.Seeds())
        {
            var online = Gen.Batch(seed);
            var result = Recomposer.Recompose(online, Defaults with { Scope = RankScope.Group }, seed);
            foreach (var group in online)
            {
                var sel = result.Priority.Samples.Select(s => s.Response).Where(r => r.PromptId == group.PromptId).ToList();
                var rest = result.Compensation.Where(r => r.PromptId == group.PromptId).ToList();
                AssertExtremes(sel, rest);
                Assert.Equal(Recomposer.Quota(group.Responses.Count(r => r.Correct), 0.5), sel.Count(r => r.Correct));
                Assert.Equal(Recomposer.Quota(group.Responses.Count(r => !r.Correct), 0.5), sel.Count(r => !r.Correct));
            }
        }
    }

    [Fact]
    public void Tool_calls_rank_before_tokens_when_asked()
    {
        var online = new List<RolloutGroup>
        {
            new("p", 1, [
                Gen.Response("a", "p", 0, length: 5, correct: true, toolCalls: 3),
                Gen.Response("b", "p", 1, length: 30, correct: true, toolCalls: 0),
                Gen.Response("c", "p", 2, length: 4, correct: false, toolCalls: 0),
                Gen.Response("d", "p", 3, length: 3, correct: false, toolCalls: 2)]),
        };
        var byTools = Recomposer.Recompose(online, Defaults with { LengthKey = LengthKey.ToolCallsThenTokens }, 1);
        Assert.Equal(new[] { "b", "d" }, byTools.Priority.Samples.Select(s => s.Response.Id));
        var byTokens = Recomposer.Recompose(online, Defaults, 1);
        Assert.Equal(new[] { "a", "c" }, byTokens.Priority.Samples.Select(s => s.Response.Id));
    }

    [Fact]
    public void Recomposed_advantages_are_positive_for_short_correct_and_negative_for_long_incorrect()
    {
        foreach (var seed in Gen.Seeds())
        {
            var result = Recomposer.Recompose(Gen.Batch(seed), Defaults, seed);
            var samples = result.Priority.Samples;
            if (samples.Any(s => s.Response.Correct) && samples.Any(s => !s.Response.Correct))
            {
                Assert.All(samples, s => Assert.True(s.Response.Correct ? s.Advantage > 0 : s.Advantage < 0));
            }
        }
    }

    [Fact]
    public void Original_scope_keeps_the_online_group_advantages()
    {
        foreach (var seed in Gen.Seeds(50))
        {
            var online = Gen.Batch(seed);
            var result = Recomposer.Recompose(online, Defaults with { AdvantageScope = AdvantageScope.Original }, seed);
            var expected = new Dictionary<string, double>();
            foreach (var g in online)
            {
                var a = AdvantageEstimators.GroupNormalized(g.Responses.Select(r => r.Reward).ToArray(), 1e-6);
                for (var i = 0; i < a.Length; i++) expected[g.Responses[i].Id] = a[i];
            }
            Assert.All(result.Priority.Samples, s => Assert.Equal(expected[s.Response.Id], s.Advantage));
        }
    }

    [Fact]
    public void Disabled_is_plain_grpo_over_the_whole_batch()
    {
        var online = Gen.Batch(7);
        var result = Recomposer.Recompose(online, Defaults with { Enabled = false }, 7);
        Assert.Equal(BatchKind.Online, result.Priority.Kind);
        Assert.Empty(result.Compensation);
        Assert.Equal(online.SelectMany(g => g.Responses).Select(r => r.Id), result.Priority.Samples.Select(s => s.Response.Id));
        var first = online[0].Responses;
        var a = AdvantageEstimators.GroupNormalized(first.Select(r => r.Reward).ToArray(), 1e-6);
        Assert.Equal(a, result.Priority.Samples.Take(first.Length).Select(s => s.Advantage));
    }

    [Fact]
    public void Same_seed_same_result_and_ties_depend_on_the_seed()
    {
        var online = Gen.Batch(3, maxLen: 3); // many ties
        var a = Recomposer.Recompose(online, Defaults, 42);
        var b = Recomposer.Recompose(online.AsEnumerable().Reverse().ToList(), Defaults, 42);
        Assert.Equal(a.Priority.Samples.Select(s => s.Response.Id).Order(), b.Priority.Samples.Select(s => s.Response.Id).Order());
        var selections = Enumerable.Range(0, 20)
            .Select(seed => string.Join(",", Recomposer.Recompose(online, Defaults, seed).Priority.Samples.Select(s => s.Response.Id).Order()))
            .Distinct().Count();
        Assert.True(selections > 1, "with many ties, different seeds should break them differently");
    }

    [Fact]
    public void Degenerate_batches_have_defined_results()
    {
        var empty = Recomposer.Recompose([], Defaults, 1);
        Assert.Equal(0, empty.Priority.Count);
        Assert.Empty(empty.Compensation);

        var emptyGroup = Recomposer.Recompose([new RolloutGroup("p", 1, [])], Defaults with { Scope = RankScope.Group }, 1);
        Assert.Equal(0, emptyGroup.Priority.Count);

        var allCorrect = Recomposer.Recompose(Gen.Batch(5, pCorrect: 1.0), Defaults, 5);
        Assert.Equal(32, allCorrect.Priority.Count);        // ceil(0.5 * 64)
        Assert.All(allCorrect.Priority.Samples, s => Assert.Equal(0.0, s.Advantage)); // zero variance: no signal

        var allWrong = Recomposer.Recompose(Gen.Batch(5, pCorrect: 0.0), Defaults, 5);
        Assert.Equal(32, allWrong.Priority.Count);
        Assert.All(allWrong.Priority.Samples, s => Assert.Equal(0.0, s.Advantage));

        var single = Recomposer.Recompose(Gen.Batch(9, b: 4, g: 1), Defaults with { Scope = RankScope.Group }, 9);
        Assert.Equal(4, single.Priority.Count);              // G = 1: each group's one response is its own extreme
        Assert.Empty(single.Compensation);

        var all = Recomposer.Recompose(Gen.Batch(11), Defaults with { PriorityFraction = 1.0 }, 11);
        Assert.Equal(64, all.Priority.Count);
        Assert.Empty(all.Compensation);

        foreach (var seed in Gen.Seeds())
        {
            foreach (var est in AdvantageEstimators.Names)
            {
                var r = Recomposer.Recompose(Gen.Batch(seed, b: 1 + seed % 3, g: 1 + seed % 4, pCorrect: seed % 3 / 2.0), Defaults with { Estimator = est }, seed);
                Assert.All(r.Priority.Samples, s => Assert.True(double.IsFinite(s.Advantage)));
            }
        }
    }

    [Fact]
    public void Bad_options_and_duplicate_ids_are_refused_with_the_cause()
    {
        Assert.Contains("priority-fraction", Assert.Throws<ArgumentException>(() => Recomposer.Recompose([], Defaults with { PriorityFraction = 0 }, 1)).Message);
        Assert.Contains("unknown advantage estimator", Assert.Throws<ArgumentException>(() => Recomposer.Recompose([], Defaults with { Estimator = "x" }, 1)).Message);
        var r = Gen.Response("same", "p", 0, 3, true);
        Assert.Contains("'same'", Assert.Throws<ArgumentException>(() => Recomposer.Recompose([new RolloutGroup("p", 1, [r, r])], Defaults, 1)).Message);
    }

    private static void AssertExtremes(IReadOnlyList<Response> selected, IReadOnlyList<Response> rest)
    {
        var selCorrect = selected.Where(r => r.Correct).ToList();
        var selWrong = selected.Where(r => !r.Correct).ToList();
        if (selCorrect.Count > 0)
        {
            var longestSelected = selCorrect.Max(r => r.Length);
            Assert.All(rest.Where(r => r.Correct), r => Assert.True(r.Length >= longestSelected, $"left-out correct {r.Id} ({r.Length}) is shorter than a selected one ({longestSelected})"));
        }
        if (selWrong.Count > 0)
        {
            var shortestSelected = selWrong.Min(r => r.Length);
            Assert.All(rest.Where(r => !r.Correct), r => Assert.True(r.Length <= shortestSelected, $"left-out incorrect {r.Id} ({r.Length}) is longer than a selected one ({shortestSelected})"));
        }
    }
}
