using System.Globalization;
using System.Text.Json.Nodes;
using RoRecomp.Cli.Reports;

namespace RoRecomp.Actors.Tests.Experiments;

/// <summary>The report over synthetic run directories: files written, relative changes right, partial runs reported.</summary>
public sealed class ExperimentReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-report-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string F(double x) => x.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>A run of 4 steps (evaluations at 2 and 4) ending at the given held-out figures; summary.json only if finished.</summary>
    private string Run(string arm, int seed, double accuracy, double length, double tools, bool finished = true)
    {
        var dir = Path.Combine(_dir, "runs", arm, $"seed-{seed}");
        Directory.CreateDirectory(dir);
        // Seed 1 has the PascalCase baseline of earlier versions, the others today's snake_case: both read.
        File.WriteAllText(Path.Combine(dir, "eval-baseline.json"), seed == 1
            ? """{"Step":0,"Accuracy":0.6,"MeanLength":60,"ToolCalls":1,"FormatValid":1,"Responses":100}"""
            : """{"step":0,"accuracy":0.6,"mean_length":60,"tool_calls":1,"format_valid":1,"responses":100}""");
        var lines = Enumerable.Range(1, 4).Select(s =>
        {
            var l = $"{{\"step\":{s},\"mean_length\":{F(length + (4 - s))},\"tool_calls\":{F(tools)},\"entropy\":0.5,\"priority_size\":{8 + s},\"compensation_size\":6,\"accuracy\":0.7";
            if (s % 2 == 0) l += $",\"eval_accuracy\":{F(s == 4 ? accuracy : 0.65)},\"eval_mean_length\":{F(s == 4 ? length : 55)},\"eval_tool_calls\":{F(tools)}";
            return l + "}\n";
        });
        File.WriteAllText(Path.Combine(dir, "metrics.jsonl"), string.Concat(lines));
        if (finished)
        {
            File.WriteAllText(Path.Combine(dir, "summary.json"),
                $"{{\"task\":\"thinking\",\"steps\":4,\"final\":{{\"step\":4,\"accuracy\":{F(accuracy)},\"mean_length\":{F(length)},\"tool_calls\":{F(tools)}}}}}");
        }
        return dir;
    }

    [Fact]
    public void Two_arms_by_two_seeds_give_plots_a_page_and_changes_relative_to_grpo_of_the_same_seed()
    {
        Run("grpo", 1, 0.80, 40, 2);
        Run("grpo", 2, 0.70, 50, 1);
        Run("rorecomp", 1, 0.82, 30, 1);
        Run("rorecomp", 2, 0.69, 40, 1.5);
        Run("length-penalty", 1, 0.75, 20, 2, finished: false);   // partial, and seed 2 never started
        Directory.CreateDirectory(Path.Combine(_dir, "runs", "warm-1", "sft"));   // not an arm

        var outDir = Path.Combine(_dir, "report");
        var result = ExperimentReport.Write(Path.Combine(_dir, "runs"), outDir);

        foreach (var png in new[] { "mean-length.png", "eval-accuracy.png", "eval-mean-length.png", "tool-calls.png", "entropy.png", "priority-size.png", "compensation-size.png", "pareto-length.png", "pareto-tool-calls.png" })
        {
            var bytes = File.ReadAllBytes(Path.Combine(outDir, png));
            Assert.True(bytes.Length > 1000, png);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
            Assert.Contains(png, result.Plots);
        }
        var html = File.ReadAllText(Path.Combine(outDir, "index.html"));
        Assert.Contains("<img src=\"eval-accuracy.png\"", html);
        Assert.Contains("<td>rorecomp</td>", html);
        Assert.Contains("-22.5 % [-25.0, -20.0]", html);   // rorecomp's length vs grpo: mean and spread over the seeds

        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")))!;
        Assert.Equal(["grpo", "rorecomp", "length-penalty"], summary["arms"]!.AsObject().Select(kv => kv.Key));
        var ro = summary["arms"]!["rorecomp"]!;
        Assert.Equal(-25.0, ro["seeds"]!["1"]!["vs_grpo"]!["length_change_percent"]!.GetValue<double>(), 6);
        Assert.Equal(2.0, ro["seeds"]!["1"]!["vs_grpo"]!["accuracy_change_points"]!.GetValue<double>(), 6);
        Assert.Equal(-50.0, ro["seeds"]!["1"]!["vs_grpo"]!["tool_calls_change_percent"]!.GetValue<double>(), 6);
        Assert.Equal(-20.0, ro["seeds"]!["2"]!["vs_grpo"]!["length_change_percent"]!.GetValue<double>(), 6);
        Assert.Equal(-1.0, ro["seeds"]!["2"]!["vs_grpo"]!["accuracy_change_points"]!.GetValue<double>(), 6);
        Assert.Equal(50.0, ro["seeds"]!["2"]!["vs_grpo"]!["tool_calls_change_percent"]!.GetValue<double>(), 6);
        Assert.Equal(-22.5, ro["length_change_percent"]!["mean"]!.GetValue<double>(), 6);
        Assert.Equal(0.755, ro["final_accuracy"]!["mean"]!.GetValue<double>(), 6);
        Assert.Equal(0.0, summary["arms"]!["grpo"]!["seeds"]!["2"]!["vs_grpo"]!["length_change_percent"]!.GetValue<double>(), 6);

        // The partial run's final figures are its last evaluation (step 4 here), and it says so.
        var lp = summary["arms"]!["length-penalty"]!["seeds"]!["1"]!;
        Assert.False(lp["finished"]!.GetValue<bool>());
        Assert.Equal(-50.0, lp["vs_grpo"]!["length_change_percent"]!.GetValue<double>(), 6);
        Assert.Contains(result.Warnings, w => w.Contains("length-penalty/seed-1: partial run", StringComparison.Ordinal));
        Assert.Contains(result.Warnings, w => w.Contains("length-penalty: no run for seed(s) 2", StringComparison.Ordinal));
    }

    [Fact]
    public void Means_and_bands_are_over_the_seeds_at_each_step_with_the_warm_start_at_step_0()
    {
        var runs = new[] { Run("grpo", 1, 0.8, 40, 0), Run("grpo", 2, 0.6, 50, 0) };
        var warnings = new List<string>();
        var arms = ExperimentRuns.Load(Path.Combine(_dir, "runs"), warnings);
        Assert.All(arms["grpo"], r => Assert.Equal(0.6, r.Baseline!.Accuracy));   // the old and the new baseline form
        var (steps, mean, min, max) = ExperimentReport.Aggregate(arms["grpo"], m => m.EvalAccuracy, b => b.Accuracy);
        Assert.Equal([0.0, 2, 4], steps);
        Assert.Equal([0.6, 0.65, 0.7], mean.Select(x => Math.Round(x, 9)));
        Assert.Equal([0.6, 0.65, 0.6], min);
        Assert.Equal([0.6, 0.65, 0.8], max);
        Assert.Equal(2, runs.Length);
    }

    [Fact]
    public void An_empty_or_missing_directory_fails_with_a_clear_message()
    {
        var missing = Assert.Throws<ReportException>(() => ExperimentReport.Write(Path.Combine(_dir, "nope"), Path.Combine(_dir, "out")));
        Assert.Contains("no such directory", missing.Message);
        Directory.CreateDirectory(Path.Combine(_dir, "empty", "grpo", "seed-1"));   // started, no metrics yet
        var empty = Assert.Throws<ReportException>(() => ExperimentReport.Write(Path.Combine(_dir, "empty"), Path.Combine(_dir, "out")));
        Assert.Contains("no <arm>/seed-<n>/ run directory", empty.Message);
    }
}
