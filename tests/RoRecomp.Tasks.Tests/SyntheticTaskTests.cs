using System.Globalization;
using RoRecomp.Tasks;
using RoRecomp.Tasks.Synthetic;
using Xunit.Abstractions;

namespace RoRecomp.Tasks.Tests;

public sealed class SyntheticTaskTests(ITestOutputHelper output)
{
    public static TheoryData<string> SyntheticNames => new() { "thinking", "zero-rl", "agentic", "agentic-mixed" };

    /// <summary>The synthetic tasks small enough to enumerate (agentic-mixed is sampled: its space has 468M problems).</summary>
    public static TheoryData<string> EnumeratedNames => new() { "thinking", "zero-rl", "agentic" };

    [Theory]
    [MemberData(nameof(SyntheticNames))]
    public void Prompts_are_deterministic_by_index_and_independent_of_order(string name)
    {
        var a = TaskRegistry.Create(name, new TaskSettings(Seed: 7));
        var b = TaskRegistry.Create(name, new TaskSettings(Seed: 7));
        var forward = a.Prompts(Split.Train, 0, 50).ToList();
        var backward = Enumerable.Range(0, 50).Reverse().Select(i => b.GetPrompt(Split.Train, i)).Reverse().ToList();
        Assert.Equal(forward, backward, new PromptComparer());
        Assert.Equal("train-000042", forward[42].Id);
        Assert.Equal(forward[42], a.Resolve("train-000042"), new PromptComparer());
        var other = TaskRegistry.Create(name, new TaskSettings(Seed: 8)).Prompts(Split.Train, 0, 50).Select(p => p.Text);
        Assert.NotEqual(forward.Select(p => p.Text), other);
    }

    [Theory]
    [MemberData(nameof(SyntheticNames))]
    public void Train_and_test_splits_are_disjoint(string name)
    {
        var task = TaskRegistry.Create(name, new TaskSettings(Seed: 3));
        var train = task.Prompts(Split.Train, 0, 3000).Select(p => p.Text).ToHashSet();
        var test = task.Prompts(Split.Test, 0, 500).Select(p => p.Text).ToHashSet();
        Assert.Empty(train.Intersect(test));
        Assert.True(test.Count > 20, $"test split too small: {test.Count}");
        Assert.True(task.DistinctPrompts(Split.Test) > 0 && task.DistinctPrompts(Split.Train) > 5 * task.DistinctPrompts(Split.Test));
        Assert.All(task.Prompts(Split.Test, 0, 10), p => Assert.StartsWith("test-", p.Id, StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(EnumeratedNames))]
    public void Each_pass_over_a_split_covers_every_problem_once_in_a_new_order(string name)
    {
        var task = TaskRegistry.Create(name);
        int n = (int)task.DistinctPrompts(Split.Test);
        var first = task.Prompts(Split.Test, 0, n).Select(p => p.Text).ToList();
        var second = task.Prompts(Split.Test, n, n).Select(p => p.Text).ToList();
        Assert.Equal(n, first.Distinct().Count());
        Assert.Equal(first.Order(StringComparer.Ordinal), second.Order(StringComparer.Ordinal));
        Assert.NotEqual(first, second);
        var train = task.Prompts(Split.Train, 0, (int)task.DistinctPrompts(Split.Train)).Select(p => p.Text).ToHashSet();
        Assert.Equal(task.DistinctPrompts(Split.Train), train.Count);
        Assert.Empty(train.Intersect(first));
    }

    [Fact]
    public void Problem_spaces_too_large_to_enumerate_are_sampled_with_disjoint_splits()
    {
        var task = new ZeroRlTask(new ZeroRlOptions(Digits: 4));
        var train = task.Prompts(Split.Train, 0, 2000).Select(p => p.Text).ToHashSet();
        var test = task.Prompts(Split.Test, 0, 2000).Select(p => p.Text).ToHashSet();
        Assert.Empty(train.Intersect(test));
        Assert.Equal(task.GetPrompt(Split.Test, 1999), new ZeroRlTask(new ZeroRlOptions(Digits: 4)).GetPrompt(Split.Test, 1999), new PromptComparer());
        Assert.All(task.Prompts(Split.Train, 0, 50), p => Assert.Equal(p.Operands[0] + p.Operands[1], long.Parse(p.Answer, CultureInfo.InvariantCulture)));
    }

    [Theory]
    [MemberData(nameof(SyntheticNames))]
    public void Every_trace_is_format_valid_and_correct_iff_its_answer_is_right(string name)
    {
        var task = TaskRegistry.Create(name);
        var rng = new Random(11);
        var alphabet = task.Alphabet.ToHashSet();
        foreach (var prompt in task.Prompts(Split.Train, 0, 1500))
        {
            var trace = task.Trace(prompt, rng);
            var verdict = task.Verify(prompt, trace);
            Assert.True(verdict.FormatValid, $"{prompt.Text}{trace}: {verdict.Problem}");
            var answer = trace[(trace.LastIndexOf("<answer>", StringComparison.Ordinal) + 8)..trace.LastIndexOf("</answer>", StringComparison.Ordinal)];
            Assert.Equal(answer, verdict.Answer);
            Assert.Equal(answer == prompt.Answer, verdict.Correct);
            Assert.Equal(verdict.Correct ? 1.0 : 0.0, verdict.Reward);
            Assert.True(verdict.Correct == (long.Parse(answer, CultureInfo.InvariantCulture) == Truth(prompt)));
            var plain = task.SpecialTokens.Aggregate(prompt.Text + trace, (s, t) => s.Replace(t, "", StringComparison.Ordinal));
            Assert.All(plain, c => Assert.Contains(c, alphabet));
            if (name == "agentic-mixed") Assert.True(TraceStatistics.TokenCount(task, trace) <= 160, $"over agentic-mixed.conf's max-new-tokens: {prompt.Text}{trace}");
            else Assert.True(TraceStatistics.TokenCount(task, prompt.Text + trace) <= 128, $"too long: {prompt.Text}{trace}");
        }
    }

    [Fact]
    public void Thinking_slips_are_in_the_first_pass_and_any_recheck_corrects_them()
    {
        var task = new ThinkingTask();
        var rng = new Random(5);
        int slipped = 0, caught = 0;
        foreach (var prompt in task.Prompts(Split.Train, 0, 3000))
        {
            var trace = task.Trace(prompt, rng);
            var passes = trace[7..trace.IndexOf("</think>", StringComparison.Ordinal)].Split('|');
            var totals = passes.Select(p => long.Parse(p.TrimEnd(';').Split('=')[^1], CultureInfo.InvariantCulture)).ToArray();
            Assert.All(totals.Skip(1), t => Assert.Equal(Truth(prompt), t));
            if (totals[0] != Truth(prompt))
            {
                slipped++;
                if (passes.Length > 1) caught++;
                Assert.Equal(passes.Length > 1, task.Verify(prompt, trace).Correct);
            }
        }
        Assert.InRange(slipped / 3000.0, 0.25, 0.35);
        Assert.True(caught > slipped / 2, $"{caught} of {slipped} slips caught");
    }

    [Theory]
    [InlineData(2, 9)]
    [InlineData(4, 9)]
    [InlineData(3, 20)]
    [InlineData(6, 99)]
    public void Thinking_options_change_the_problem_size_and_traces_stay_valid(int terms, int maxTerm)
    {
        var task = new ThinkingTask(new ThinkingOptions(Terms: terms, MaxTerm: maxTerm, SlipRate: 0.5));
        var rng = new Random(3);
        foreach (var p in task.Prompts(Split.Train, 0, 300))
        {
            Assert.Equal(terms, p.Operands.Length);
            Assert.All(p.Operands, t => Assert.InRange(t, 0, maxTerm));
            var trace = task.Trace(p, rng);
            var v = task.Verify(p, trace);
            Assert.True(v.FormatValid, $"{p.Text}{trace}: {v.Problem}");
            Assert.Equal(v.Rechecks > 0 || v.Correct, v.Correct);
        }
    }

    [Fact]
    public void Thinking_verbosity_pays_in_the_warm_start_data()
    {
        var stats = TraceStatistics.Measure(new ThinkingTask(), 4000, seed: 1, (_, v) => v.Rechecks);
        output.WriteLine("thinking (rechecks): " + stats.Describe("rechecks"));
        double none = stats.AccuracyWhere(k => k == 0), some = stats.AccuracyWhere(k => k >= 1);
        Assert.InRange(none, 0.6, 0.8);
        Assert.True(some > none + 0.2, $"accuracy with re-checks {some:P1} vs without {none:P1}");
        Assert.True(stats.ByCount[3].MeanTokens > stats.ByCount[0].MeanTokens + 20);
    }

    [Fact]
    public void Zero_rl_warm_start_data_teaches_the_format_not_the_answer()
    {
        var stats = TraceStatistics.Measure(new ZeroRlTask(), 4000, seed: 1, (trace, _) => trace.Count(c => c == ';'));
        output.WriteLine("zero-rl (notes): " + stats.Describe("notes"));
        Assert.InRange(stats.Accuracy, 0.25, 0.35);
        Assert.True(Math.Abs(stats.AccuracyWhere(k => k == 0) - stats.AccuracyWhere(k => k == 3)) < 0.08, "the answer must not depend on the notes");
        var task = new ZeroRlTask();
        var rng = new Random(2);
        var lengths = task.Prompts(Split.Train, 0, 500).Select(p => TraceStatistics.TokenCount(task, task.Trace(p, rng))).Distinct().Count();
        Assert.True(lengths >= 4, "the think part must vary in length");
    }

    [Fact]
    public void Agentic_warm_start_data_has_one_necessary_call_and_unnecessary_ones()
    {
        var stats = TraceStatistics.Measure(new AgenticTask(), 4000, seed: 1, (_, v) => v.ToolCalls);
        output.WriteLine("agentic (tool calls): " + stats.Describe("calls"));
        double none = stats.AccuracyWhere(k => k == 0), one = stats.AccuracyWhere(k => k == 1), more = stats.AccuracyWhere(k => k >= 2);
        Assert.InRange(none, 0.35, 0.65);
        Assert.Equal(1.0, one);
        Assert.Equal(1.0, more);
        Assert.True(stats.ByCount[2].Count + stats.ByCount[3].Count > 0.3 * stats.Traces, "too few unnecessary calls");
    }

    [Fact]
    public void Agentic_audit_counts_every_call_but_the_first_product_call_as_unnecessary()
    {
        var task = new AgenticTask();
        var rng = new Random(3);
        int audited = 0;
        foreach (var p in task.Prompts(Split.Train, 0, 2000))
        {
            // A warm-start trace asks for the product once, then maybe repeats it and asks for the trivial addition.
            var trace = task.Trace(p, rng);
            var calls = task.Verify(p, trace).ToolCalls;
            Assert.Equal(Math.Max(calls - 1, 0), task.UnnecessaryCalls(p, trace));
            audited += calls;
        }
        Assert.True(audited > 1000, "the traces should make calls to audit");

        var q = task.GetPrompt(Split.Test, 0);
        long a = q.Operands[0], b = q.Operands[1], c = q.Operands[2];
        string Call(string e) => $"<tool>calc:{e}</tool><result>{task.Tools!.Step("<tool>calc:" + e + "</tool>").Append[8..^9]}</result>";
        Assert.Equal(0, task.UnnecessaryCalls(q, "<think>" + Call($"{b}*{a}") + "</think>"));          // either order
        Assert.Equal(0, task.UnnecessaryCalls(q, "<think>" + Call($"{a}*{b}+{c}") + "</think>"));      // the whole expression
        Assert.Equal(2, task.UnnecessaryCalls(q, "<think>" + Call($"{a}*{b}/0") + Call($"{a}*{b}") + Call($"{a * b}+{c}") + "</think>"));   // an error, the addition
        Assert.Equal(1, task.UnnecessaryCalls(q, $"<think><tool>calc:{a}*{b}"));                      // a call cut off
        Assert.Equal(0, task.UnnecessaryCalls(q, $"<think>{a}*{b}={a * b};</think>"));                 // mental: no call
    }

    [Fact]
    public void Thinking_verifier_rejects_broken_formats_and_accepts_an_optional_eos()
    {
        var task = new ThinkingTask();
        var p = task.GetPrompt(Split.Train, 0);
        long[] t = [.. p.Operands];
        string pass = $"{t[0]}+{t[1]}={t[0] + t[1]};{t[0] + t[1]}+{t[2]}={t[0] + t[1] + t[2]};";
        string good = $"<think>{pass}</think><answer>{p.Answer}</answer>";
        Assert.True(task.Verify(p, good).Correct);
        Assert.True(task.Verify(p, good + "<eos>").Correct);
        Assert.Equal(1, task.Verify(p, $"<think>{pass}|{pass}</think><answer>{p.Answer}</answer><eos>").Rechecks);
        foreach (var bad in new[]
                 {
                     "", "<eos>", $"<answer>{p.Answer}</answer>", $"<think></think><answer>{p.Answer}</answer>",
                     $"<think>{pass}</think><answer>{p.Answer}</answer>x", $"<think>{pass}</think><answer>0{p.Answer}</answer>",
                     $"<think>{pass}|</think><answer>{p.Answer}</answer>", $"<think>{pass}</think><answer></answer>",
                     $"<think>9+9=18;18+9=27;</think><answer>{p.Answer}</answer>", $"<think>{pass}", "<think>\u00e9</think><answer>1</answer>",
                 })
        {
            var v = task.Verify(p, bad);
            Assert.False(v.Correct, bad);
            Assert.Equal(0, v.Reward);
        }
    }

    [Fact]
    public void Registry_lists_known_names_for_an_unknown_one()
    {
        var e = Assert.Throws<ArgumentException>(() => TaskRegistry.Create("thinkin"));
        Assert.Contains("'thinkin'", e.Message, StringComparison.Ordinal);
        foreach (var name in new[] { "agentic", "agentic-mixed", "jsonl", "thinking", "zero-rl" }) Assert.Contains(name, e.Message, StringComparison.Ordinal);
        Assert.Contains("dataset options", Assert.Throws<ArgumentException>(() => TaskRegistry.Create("jsonl")).Message, StringComparison.Ordinal);
        Assert.Equal(new[] { "agentic", "agentic-mixed", "jsonl", "thinking", "zero-rl" }, TaskRegistry.Names.ToArray());
        Assert.Throws<ArgumentException>(() => TaskRegistry.Create("thinking").Resolve("train-x"));
    }

    [Fact]
    public void Options_out_of_range_fail_with_the_key()
    {
        Assert.Contains("slip-rate", Assert.Throws<ArgumentOutOfRangeException>(() => new ThinkingTask(new ThinkingOptions(SlipRate: 2))).Message, StringComparison.Ordinal);
        Assert.Contains("test-percent", Assert.Throws<ArgumentOutOfRangeException>(() => new ZeroRlTask(new ZeroRlOptions { TestPercent = 0 })).Message, StringComparison.Ordinal);
        Assert.Contains("repeat-rate", Assert.Throws<ArgumentOutOfRangeException>(() => new AgenticTask(new AgenticOptions(RepeatRate: -1))).Message, StringComparison.Ordinal);
    }

    private static long Truth(TaskPrompt p) => p.Text.Contains('*', StringComparison.Ordinal)
        ? p.Operands.Length == 3 ? (p.Operands[0] * p.Operands[1]) + p.Operands[2] : p.Operands.Chunk(2).Sum(t => t[0] * t[1])
        : p.Operands.Sum();

    private sealed class PromptComparer : IEqualityComparer<TaskPrompt>
    {
        public bool Equals(TaskPrompt? x, TaskPrompt? y) =>
            x is not null && y is not null && x.Id == y.Id && x.Text == y.Text && x.Answer == y.Answer && x.Operands.SequenceEqual(y.Operands);

        public int GetHashCode(TaskPrompt obj) => obj.Id.GetHashCode(StringComparison.Ordinal);
    }
}
