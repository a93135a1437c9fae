using System.Globalization;
using RoRecomp.Tasks;
using RoRecomp.Tasks.Synthetic;
using Xunit.Abstractions;

namespace RoRecomp.Tasks.Tests;

public sealed class MixedAgenticTaskTests(ITestOutputHelper output)
{
    private readonly MixedAgenticTask _task = new();

    [Fact]
    public void Problems_mix_two_and_three_terms_with_zero_to_three_hard_products()
    {
        var byTerms = new int[4];
        var byHard = new int[4];
        foreach (var p in _task.Prompts(Split.Train, 0, 4000))
        {
            int k = p.Operands.Length / 2;
            Assert.InRange(k, 2, 3);
            Assert.Equal(2 * k, p.Operands.Length);
            byTerms[k]++;
            byHard[MixedAgenticTask.HardTerms(p)]++;
            long sum = 0;
            var terms = new List<string>();
            for (int i = 0; i < p.Operands.Length; i += 2)
            {
                long x = p.Operands[i], y = p.Operands[i + 1];
                Assert.InRange(y, 2, 9);
                Assert.True(x is >= 2 and <= 9 or >= 11 and <= 99, $"{p.Text}: factor {x}");
                Assert.Equal(x >= 11, MixedAgenticTask.IsHard(x, y));
                sum += x * y;
                terms.Add(string.Create(CultureInfo.InvariantCulture, $"{x}*{y}"));
            }
            Assert.Equal(string.Join('+', terms) + "=", p.Text);
            Assert.Equal(sum.ToString(CultureInfo.InvariantCulture), p.Answer);
        }
        output.WriteLine($"terms 2/3: {byTerms[2]}/{byTerms[3]}; hard 0/1/2/3: {string.Join('/', byHard)}");
        Assert.InRange(byTerms[3] / 4000.0, 0.45, 0.55);                 // ThreeTermRate 0.5
        Assert.InRange(byHard[0] / 4000.0, 0.16, 0.22);                  // 0.5 x 0.25 + 0.5 x 0.125 = 0.1875
        Assert.InRange(byHard[3] / 4000.0, 0.04, 0.085);                 // 0.5 x 0.125 = 0.0625
        var easy = new MixedAgenticTask(new MixedAgenticOptions(ThreeTermRate: 0, HardRate: 0));
        Assert.All(easy.Prompts(Split.Test, 0, 200), p => Assert.Equal(0, MixedAgenticTask.HardTerms(p)));
    }

    [Fact]
    public void The_problem_space_is_sampled_with_disjoint_splits()
    {
        // 776 terms: 776^2 two-term + 776^3 three-term problems, too many to enumerate: train and test by the split hash.
        Assert.Equal((776L * 776) + (776L * 776 * 776), _task.DistinctPrompts(Split.Train) + _task.DistinctPrompts(Split.Test));
        var train = _task.Prompts(Split.Train, 0, 3000).Select(p => p.Text).ToHashSet();
        var test = _task.Prompts(Split.Test, 0, 1000).Select(p => p.Text).ToList();
        Assert.Empty(train.Intersect(test));
        // Repeats come from the 4,096 all-easy two-term problems (1 in 8 draws): about 20 in 1,000.
        Assert.True(test.Distinct().Count() > 950, "the test prompts of an evaluation should rarely repeat");
    }

    [Fact]
    public void Warm_start_traces_have_necessary_and_unnecessary_calls_and_are_right_iff_every_hard_product_was_asked()
    {
        var rng = new Random(1);
        int traces = 4000, necessary = 0, unnecessary = 0, withBoth = 0, mentalHard = 0, hardTotal = 0;
        var correctByHard = new int[4];
        var countByHard = new int[4];
        foreach (var p in _task.Prompts(Split.Train, 0, traces))
        {
            var trace = _task.Trace(p, rng);
            var v = _task.Verify(p, trace);
            var a = _task.Audit(p, trace);
            Assert.True(v.FormatValid, $"{p.Text}{trace}: {v.Problem}");
            Assert.Equal(v.ToolCalls, a.Calls);
            Assert.InRange(a.Calls, 1, 7);                               // the sum is always a call (SumCallRate 1)
            Assert.Equal(a.HardTerms, MixedAgenticTask.HardTerms(p));
            Assert.Equal(a.HardTerms + 1, a.Necessary + a.HardNotAsked); // each hard product asked in its own call, then the sum
            if (a.HardNotAsked == 0) Assert.True(v.Correct, $"all hard products asked but wrong: {p.Text}{trace}");
            necessary += a.Necessary;
            unnecessary += a.Unnecessary;
            mentalHard += a.HardNotAsked;
            hardTotal += a.HardTerms;
            if (a.Necessary > 0 && a.Unnecessary > 0) withBoth++;
            countByHard[a.HardTerms]++;
            if (v.Correct) correctByHard[a.HardTerms]++;
        }
        var acc = Enumerable.Range(0, 4).Select(h => (double)correctByHard[h] / countByHard[h]).ToArray();
        output.WriteLine($"calls per trace: necessary {necessary / (double)traces:F2}, unnecessary {unnecessary / (double)traces:F2}; " +
            $"traces with both {withBoth / (double)traces:P1}; accuracy by hard products 0..3: {string.Join(" / ", acc.Select(x => x.ToString("P1", CultureInfo.InvariantCulture)))}");
        Assert.Equal(1.0, acc[0]);                                       // easy products and sums are never wrong
        Assert.True(acc[1] > acc[2] && acc[2] > acc[3], "harder problems must be less accurate");
        Assert.InRange(acc[3], 0.45, 0.75);                               // 0.85^3 = 0.61
        Assert.True(unnecessary > 0.4 * necessary, $"too few unnecessary calls: {unnecessary} vs {necessary}");
        Assert.True(withBoth > 0.25 * traces, $"too few traces with both kinds of call: {withBoth}");
        Assert.InRange(mentalHard / (double)hardTotal, 0.2, 0.3);   // NoToolRate 0.25
    }

    [Fact]
    public void Warm_start_statistics_by_tool_calls()
    {
        var stats = TraceStatistics.Measure(_task, 4000, seed: 1, (_, v) => v.ToolCalls);
        output.WriteLine("agentic-mixed (tool calls): " + stats.Describe("calls"));
        Assert.InRange(stats.Accuracy, 0.75, 0.9);
        Assert.True(stats.ByCount.Keys.Max() >= 5, "some traces should make many (mostly unnecessary) calls");
        Assert.False(stats.ByCount.ContainsKey(0), "every trace asks the tool for the sum");
        Assert.True(stats.ByCount.ContainsKey(1) && stats.ByCount[1].Count > 100, "some traces should make only the necessary sum call");
    }

    [Fact]
    public void Audit_counts_a_hard_product_once_and_everything_else_as_unnecessary()
    {
        var p = Prompt(47, 8, 6, 7, 23, 4);      // 376 + 42 + 92 = 510
        Assert.Equal("510", p.Answer);
        Assert.Equal(2, MixedAgenticTask.HardTerms(p));
        string Call(string e) => $"<tool>calc:{e}</tool><result>{_task.Tools!.Step("<tool>calc:" + e + "</tool>").Append[8..^9]}</result>";
        Assert.Equal(new CallAudit(0, 0, 0, 2, 2), _task.Audit(p, "<think>47*8=376;6*7=42;23*4=92;376+42=418;418+92=510;</think><answer>510</answer>"));
        Assert.Equal(new CallAudit(2, 2, 0, 2, 0), _task.Audit(p, "<think>" + Call("47*8") + Call("4*23") + "</think>"));
        Assert.Equal(new CallAudit(5, 3, 2, 2, 0), _task.Audit(p, "<think>" + Call("47*8") + Call("47*8") + Call("6*7") + Call("23*4") + Call("376+42+92") + "</think>"));
        Assert.Equal(new CallAudit(3, 2, 1, 2, 1), _task.Audit(p, "<think>" + Call("47*8") + Call("376+42+92") + Call("376+42+92") + "</think>"));   // only the first sum
        Assert.Equal(new CallAudit(1, 1, 0, 2, 0), _task.Audit(p, "<think>" + Call("47*8+6*7+23*4") + "</think>"));   // the whole expression: one call
        Assert.Equal(new CallAudit(3, 1, 2, 2, 1), _task.Audit(p, "<think>" + Call("47*8/0") + Call("48*8") + Call("47*8") + "</think>"));  // an error, a product not asked
        Assert.Equal(new CallAudit(1, 0, 1, 2, 2), _task.Audit(p, "<think><tool>calc:47*8"));   // unanswered (cut) call
    }

    [Fact]
    public void Verifier_takes_the_results_from_the_tool_and_caps_the_calls()
    {
        var p = Prompt(47, 8, 6, 7);             // 376 + 42 = 418
        var env = _task.Tools!;
        Assert.Equal(8, env.MaxCalls);
        Assert.True(_task.Verify(p, "<think><tool>calc:47*8</tool><result>376</result>6*7=42;376+42=418;</think><answer>418</answer><eos>").Correct);
        var faked = _task.Verify(p, "<think><tool>calc:47*8</tool><result>377</result>377+42=419;</think><answer>419</answer>");
        Assert.False(faked.FormatValid);
        Assert.Contains("not the tool's answer", faked.Problem, StringComparison.Ordinal);
        Assert.False(_task.Verify(p, "<think>47*8=376;6*7=42;</think><answer>417</answer>").Correct);
        Assert.True(_task.Verify(p, "<think>47*8=376;6*7=42;</think><answer>418</answer>").Correct);   // mental and right: correct, no call

        // Tool execution: the environment answers each call of an episode as the verifier expects, and the 9th ends it.
        var episode = p.Text + "<think>";
        for (int i = 0; i < env.MaxCalls; i++)
        {
            episode += "<tool>calc:47*8</tool>";
            var step = env.Step(episode);
            Assert.Equal(("<result>376</result>", false), (step.Append, step.Done));
            episode += step.Append;
        }
        var last = env.Step(episode + "<tool>calc:47*8</tool>");
        Assert.Equal(("calls", true), (last.Error, last.Done));
        var response = episode[p.Text.Length..] + "</think><answer>418</answer>";
        var ok = _task.Verify(p, response);
        Assert.Equal((true, 8), (ok.Correct, ok.ToolCalls));
        Assert.Equal(new CallAudit(8, 1, 7, 1, 0), _task.Audit(p, response));
        var over = _task.Verify(p, episode[p.Text.Length..] + "<tool>calc:47*8</tool><result>error:calls</result></think><answer>418</answer>");
        Assert.False(over.Correct);
        Assert.Equal(9, over.ToolCalls);
    }

    [Fact]
    public void Options_out_of_range_fail_with_the_key()
    {
        Assert.Contains("hard-rate", Assert.Throws<ArgumentOutOfRangeException>(() => new MixedAgenticTask(new MixedAgenticOptions(HardRate: 1.5))).Message, StringComparison.Ordinal);
        Assert.Contains("sum-call-rate", Assert.Throws<ArgumentOutOfRangeException>(() => new MixedAgenticTask(new MixedAgenticOptions(SumCallRate: double.NaN))).Message, StringComparison.Ordinal);
    }

    /// <summary>A prompt with these operands, built directly (Verify and Audit read only its operands and answer).</summary>
    private TaskPrompt Prompt(params long[] operands)
    {
        var text = string.Join('+', operands.Chunk(2).Select(t => string.Create(CultureInfo.InvariantCulture, $"{t[0]}*{t[1]}"))) + "=";
        var answer = operands.Chunk(2).Sum(t => t[0] * t[1]).ToString(CultureInfo.InvariantCulture);
        return new TaskPrompt("train-999999", Split.Train, 999_999, text, answer, [.. operands]);
    }
}
