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

    /// <summary>
    /// A run of 4 steps (evaluations at 2 and 4) ending at the given held-out figures; summary.json only if finished; with
    /// <paramref name="unnecessary"/>, the unnecessary tool calls of a task that audits them (twice that at the warm start and step 2).
    /// </summary>
    private string Run(string arm, int seed, double accuracy, double length, double tools, bool finished = true, double? unnecessary = null)
    {
        var dir = Path.Combine(_dir, "runs", arm, $"seed-{seed}");
        Directory.CreateDirectory(dir);
        // Seed 1 has the PascalCase baseline of earlier versions, the others today's snake_case: both read.
        File.WriteAllText(Path.Combine(dir, "eval-baseline.json"), seed == 1
            ? """{"Step":0,"Accuracy":0.6,"MeanLength":60,"ToolCalls":1,"FormatValid":1,"Responses":100}"""
            : unnecessary is { } u0
                ? $$"""{"step":0,"accuracy":0.6,"mean_length":60,"tool_calls":1,"format_valid":1,"responses":100,"unnecessary_tool_calls":{{F(2 * u0)}}}"""
                : """{"step":0,"accuracy":0.6,"mean_length":60,"tool_calls":1,"format_valid":1,"responses":100}""");
        var lines = Enumerable.Range(1, 4).Select(s =>
        {
            var l = $"{{\"step\":{s},\"mean_length\":{F(length + (4 - s))},\"tool_calls\":{F(tools)},\"entropy\":0.5,\"priority_size\":{8 + s},\"compensation_size\":6,\"accuracy\":0.7";
            if (s % 2 == 0) l += $",\"eval_accuracy\":{F(s == 4 ? accuracy : 0.65)},\"eval_mean_length\":{F(s == 4 ? length : 55)},\"eval_tool_calls\":{F(tools)}";
            if (s % 2 == 0 && unnecessary is { } u) l += $",\"eval_unnecessary_tool_calls\":{F(s == 4 ? u : 2 * u)}";
            return l + "}\n";
        });
        File.WriteAllText(Path.Combine(dir, "metrics.jsonl"), string.Concat(lines));
        if (finished)
        {
            File.WriteAllText(Path.Combine(dir, "summary.json"),
                $"{{\"task\":\"thinking\",\"steps\":4,\"final\":{{\"step\":4,\"accuracy\":{F(accuracy)},\"mean_length\":{F(length)},\"tool_calls\":{F(tools)}" +
                (unnecessary is { } u ? $",\"unnecessary_tool_calls\":{F(u)}" : "") + "}}");
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

        // No task here audits its tool calls: no unnecessary-call keys, plots, columns or warnings (earlier reports unchanged).
        Assert.DoesNotContain("unnecessary", summary.ToJsonString());
        Assert.DoesNotContain("unnecessary", html);
        Assert.DoesNotContain(result.Plots, p => p.Contains("unnecessary", StringComparison.Ordinal));
    }

    [Fact]
    public void Unnecessary_tool_calls_are_reported_per_seed_and_arm_with_changes_relative_to_grpo()
    {
        Run("grpo", 1, 0.80, 40, 2, unnecessary: 1.0);
        Run("grpo", 2, 0.70, 50, 2, unnecessary: 0.8);
        Run("rorecomp", 1, 0.82, 30, 1, unnecessary: 0.4);
        Run("rorecomp", 2, 0.69, 40, 1, finished: false, unnecessary: 0.6);   // partial: its last evaluation's figure
        Run("length-penalty", 1, 0.75, 20, 2);   // recorded before the figure existed: left out of its arm's spread

        var outDir = Path.Combine(_dir, "report");
        var result = ExperimentReport.Write(Path.Combine(_dir, "runs"), outDir);

        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")))!;
        var ro = summary["arms"]!["rorecomp"]!;
        Assert.Equal(0.4, ro["seeds"]!["1"]!["final_unnecessary_tool_calls"]!.GetValue<double>(), 6);
        Assert.Equal(0.6, ro["seeds"]!["2"]!["final_unnecessary_tool_calls"]!.GetValue<double>(), 6);
        Assert.Equal(-60.0, ro["seeds"]!["1"]!["vs_grpo"]!["unnecessary_tool_calls_change_percent"]!.GetValue<double>(), 6);
        Assert.Equal(-25.0, ro["seeds"]!["2"]!["vs_grpo"]!["unnecessary_tool_calls_change_percent"]!.GetValue<double>(), 6);
        Assert.Equal(-42.5, ro["unnecessary_tool_calls_change_percent"]!["mean"]!.GetValue<double>(), 6);
        Assert.Equal(0.5, ro["final_unnecessary_tool_calls"]!["mean"]!.GetValue<double>(), 6);
        Assert.False(summary["arms"]!["length-penalty"]!.AsObject().ContainsKey("final_unnecessary_tool_calls"));

        // At step 2 every audited run has twice its final figure.
        ExperimentReport.Write(Path.Combine(_dir, "runs"), Path.Combine(_dir, "at-2"), atStep: 2);
        var at2 = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "at-2", "summary.json")))!;
        Assert.Equal(0.8, at2["arms"]!["rorecomp"]!["seeds"]!["1"]!["final_unnecessary_tool_calls"]!.GetValue<double>(), 6);

        var html = File.ReadAllText(Path.Combine(outDir, "index.html"));
        Assert.Contains("<th>unnecessary tool calls</th>", html);
        Assert.Contains("-42.5 % [-60.0, -25.0]", html);
        Assert.Contains("eval-unnecessary-tool-calls.png", result.Plots);
        Assert.Contains("pareto-unnecessary-tool-calls.png", result.Plots);
        var (steps, mean, _, _) = ExperimentReport.Aggregate(ExperimentRuns.Load(Path.Combine(_dir, "runs"), [])["grpo"], m => m.EvalUnnecessaryToolCalls, b => b.UnnecessaryToolCalls ?? double.NaN);
        Assert.Equal([0.0, 2, 4], steps);
        Assert.Equal([1.6, 1.8, 0.9], mean.Select(x => Math.Round(x, 9)));   // step 0: seed 2's warm start only (seed 1's baseline has the old form, no figure)
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
    public void At_step_takes_each_run_at_that_evaluation_and_lists_the_runs_that_ended_before_it()
    {
        Run("grpo", 1, 0.80, 40, 2);
        Run("rorecomp", 1, 0.82, 30, 1);
        var shortRun = Run("length-penalty", 1, 0.75, 20, 2);
        File.WriteAllLines(Path.Combine(shortRun, "metrics.jsonl"), File.ReadAllLines(Path.Combine(shortRun, "metrics.jsonl"))[..1]);   // ended at step 1

        var outDir = Path.Combine(_dir, "at-2");
        var result = ExperimentReport.Write(Path.Combine(_dir, "runs"), outDir, atStep: 2);
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")))!;
        Assert.Equal(2, summary["at_step"]!.GetValue<long>());
        var ro = summary["arms"]!["rorecomp"]!["seeds"]!["1"]!;
        Assert.Equal(2, ro["final_eval_step"]!.GetValue<long>());
        Assert.Equal(4, ro["last_step"]!.GetValue<long>());
        Assert.Equal(0.65, ro["final_accuracy"]!.GetValue<double>());   // step 2's evaluation, not the final 0.82
        Assert.Equal(55, ro["final_mean_length"]!.GetValue<double>());
        Assert.False(ro["ended_before_at_step"]!.GetValue<bool>());
        var lp = summary["arms"]!["length-penalty"]!;
        Assert.True(lp["seeds"]!["1"]!["ended_before_at_step"]!.GetValue<bool>());
        Assert.Null(lp["seeds"]!["1"]!["final_accuracy"]);
        Assert.Equal(0, lp["final_accuracy"]!["n"]!.GetValue<int>());
        Assert.Equal(1, lp["ended_before_at_step"]!.GetValue<int>());
        Assert.Contains(result.Warnings, w => w == "length-penalty/seed-1: ended at step 1, before --at-step 2; listed without figures");
        Assert.Contains("1 ended before step 2", File.ReadAllText(Path.Combine(outDir, "index.html")));

        // Without --at-step: the final evaluations, and no at-step keys.
        ExperimentReport.Write(Path.Combine(_dir, "runs"), Path.Combine(_dir, "final"));
        var final = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "final", "summary.json")))!;
        Assert.Null(final["at_step"]);
        Assert.Equal(0.82, final["arms"]!["rorecomp"]!["seeds"]!["1"]!["final_accuracy"]!.GetValue<double>());
        Assert.False(final["arms"]!["rorecomp"]!["seeds"]!["1"]!.AsObject().ContainsKey("ended_before_at_step"));

        // A run that went past the step without evaluating there is an error naming it.
        var odd = Assert.Throws<ReportException>(() => ExperimentReport.Write(Path.Combine(_dir, "runs"), Path.Combine(_dir, "at-3"), atStep: 3));
        Assert.Contains("grpo/seed-1", odd.Message);
        Assert.Contains("no held-out evaluation at step 3 (it evaluated at steps 2, 4)", odd.Message);
    }

    [Fact]
    public void The_evidence_copy_holds_the_small_files_only_and_reports_the_same()
    {
        foreach (var seed in new[] { 1, 2 })
        {
            var dir = Run("grpo", seed, 0.8, 40, 0);
            File.WriteAllText(Path.Combine(dir, "run.conf"), "rorecomp.run.task = thinking\n");
            Directory.CreateDirectory(Path.Combine(dir, "checkpoints", "step-000004"));
            File.WriteAllText(Path.Combine(dir, "checkpoints", "step-000004", "model.safetensors"), "x");
            File.WriteAllText(Path.Combine(dir, "journal.db"), "x");
            Directory.CreateDirectory(Path.Combine(dir, "tensorboard"));
            File.WriteAllText(Path.Combine(dir, "tensorboard", "events.out.tfevents.1.h.1"), "x");
            Directory.CreateDirectory(Path.Combine(_dir, "runs", $"warm-{seed}", "sft"));
            File.WriteAllText(Path.Combine(_dir, "runs", $"warm-{seed}", "sft-summary.json"), "{}");
        }
        Run("rorecomp", 1, 0.82, 30, 0, finished: false);
        Directory.CreateDirectory(Path.Combine(_dir, "runs", "rorecomp", "seed-2"));   // not started: nothing to copy
        Directory.CreateDirectory(Path.Combine(_dir, "runs", "configs"));
        File.WriteAllText(Path.Combine(_dir, "runs", "configs", "grpo.conf"), "# layers\n");

        var dest = Path.Combine(_dir, "results", "thinking", "runs");
        var copy = RunEvidence.Copy(Path.Combine(_dir, "runs"), dest);

        Assert.Equal(
            [
                "configs/grpo.conf",
                "grpo/seed-1/eval-baseline.json", "grpo/seed-1/metrics.jsonl", "grpo/seed-1/run.conf", "grpo/seed-1/summary.json",
                "grpo/seed-2/eval-baseline.json", "grpo/seed-2/metrics.jsonl", "grpo/seed-2/run.conf", "grpo/seed-2/summary.json",
                "rorecomp/seed-1/eval-baseline.json", "rorecomp/seed-1/metrics.jsonl",
                "warm-1/sft-summary.json", "warm-2/sft-summary.json",
            ],
            copy.Files.Order(StringComparer.Ordinal));
        Assert.Equal(copy.Files.Order(StringComparer.Ordinal),
            Directory.GetFiles(dest, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(dest, f).Replace('\\', '/')).Order(StringComparer.Ordinal));
        Assert.Equal(["rorecomp/seed-2: no metrics.jsonl"], copy.Skipped);

        // The report of the copy is the report of the source (the not-started seed aside, which the source reports only as missing metrics).
        Directory.Delete(Path.Combine(_dir, "runs", "rorecomp", "seed-2"));
        ExperimentReport.Write(Path.Combine(_dir, "runs"), Path.Combine(_dir, "report-source"));
        ExperimentReport.Write(dest, Path.Combine(_dir, "report-copy"));
        Assert.Equal(File.ReadAllText(Path.Combine(_dir, "report-source", "summary.json")), File.ReadAllText(Path.Combine(_dir, "report-copy", "summary.json")));

        var overlap = Assert.Throws<ReportException>(() => RunEvidence.Copy(Path.Combine(_dir, "runs"), Path.Combine(_dir, "runs", "report", "runs")));
        Assert.Contains("overlap", overlap.Message);
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
