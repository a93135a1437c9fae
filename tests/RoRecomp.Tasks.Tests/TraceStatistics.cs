using System.Globalization;
using System.Text;
using RoRecomp.Tasks;
using RoRecomp.Tasks.Synthetic;

namespace RoRecomp.Tasks.Tests;

/// <summary>Measures a task's SFT traces: length in tokens (special tokens count one) and accuracy by a per-trace count.</summary>
internal sealed record TraceStatistics(int Traces, double MeanTokens, double MeanPromptTokens, int MaxTotalTokens, double Accuracy,
    SortedDictionary<int, (int Count, int Correct, double MeanTokens)> ByCount)
{
    public static TraceStatistics Measure(IRlTask task, int traces, int seed, Func<string, Verdict, int> count)
    {
        var rng = new Random(seed);
        long tokens = 0, promptTokens = 0;
        int correct = 0, maxTotal = 0;
        var by = new SortedDictionary<int, (int Count, int Correct, long Tokens)>();
        for (int i = 0; i < traces; i++)
        {
            var prompt = task.GetPrompt(Split.Train, i);
            var trace = task.Trace(prompt, rng);
            var verdict = task.Verify(prompt, trace);
            if (!verdict.FormatValid) throw new InvalidOperationException($"trace for {prompt.Id} is not format-valid: {verdict.Problem}: {trace}");
            int len = TokenCount(task, trace), plen = TokenCount(task, prompt.Text);
            tokens += len;
            promptTokens += plen;
            maxTotal = Math.Max(maxTotal, len + plen);
            if (verdict.Correct) correct++;
            int k = count(trace, verdict);
            by.TryGetValue(k, out var c);
            by[k] = (c.Count + 1, c.Correct + (verdict.Correct ? 1 : 0), c.Tokens + len);
        }
        return new TraceStatistics(traces, (double)tokens / traces, (double)promptTokens / traces, maxTotal, (double)correct / traces,
            new(by.ToDictionary(kv => kv.Key, kv => (kv.Value.Count, kv.Value.Correct, (double)kv.Value.Tokens / kv.Value.Count))));
    }

    /// <summary>Length in tokens under a character tokenizer with the task's special tokens as single tokens.</summary>
    public static int TokenCount(IRlTask task, string text)
    {
        int n = 0;
        for (int i = 0; i < text.Length; n++)
        {
            var special = task.SpecialTokens.FirstOrDefault(t => string.CompareOrdinal(text, i, t, 0, t.Length) == 0);
            i += special?.Length ?? 1;
        }
        return n;
    }

    public double AccuracyWhere(Func<int, bool> keep)
    {
        int n = 0, c = 0;
        foreach (var (k, v) in ByCount)
            if (keep(k)) { n += v.Count; c += v.Correct; }
        return n == 0 ? double.NaN : (double)c / n;
    }

    public string Describe(string countName)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{Traces} traces: mean response tokens {MeanTokens:F1}, mean prompt tokens {MeanPromptTokens:F1}, max prompt+response {MaxTotalTokens}, accuracy {Accuracy:P1}");
        foreach (var (k, v) in ByCount)
            sb.Append(CultureInfo.InvariantCulture, $"\n  {countName}={k}: {v.Count} traces ({(double)v.Count / Traces:P1}), accuracy {(double)v.Correct / v.Count:P1}, mean tokens {v.MeanTokens:F1}");
        return sb.ToString();
    }
}
