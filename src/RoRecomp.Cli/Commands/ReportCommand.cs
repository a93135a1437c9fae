using System.CommandLine;
using RoRecomp.Cli.Reports;

namespace RoRecomp.Cli.Commands;

/// <summary>`rorecomp report`: plots, an HTML page and summary.json comparing the arms of an experiment directory.</summary>
public static class ReportCommand
{
    /// <summary>The command with its options.</summary>
    public static Command Create()
    {
        var runs = CliKit.Text("--runs", "DIR", "the experiment directory", required: true);
        var outDir = CliKit.Text("--out", "DIR", "where to write the report (default DIR/report)");
        var atStep = CliKit.Positive("--at-step",
            "take every run's figures at its held-out evaluation after step N instead of its final one (curves drawn up to N): " +
            "the table of a shorter budget read from longer runs. A run that went past N without evaluating there is an error " +
            "naming it; runs that ended before N are listed without figures. summary.json records N as at_step");
        var copy = CliKit.Flag("--copy-evidence",
            "first copy the runs' evidence into --out/runs (per <arm>/seed-<n>: metrics.jsonl, summary.json, run.conf, eval-*.json; " +
            "per warm-<n>: sft-summary.json; configs/*.conf; no checkpoints, journal or TensorBoard files), then report from that copy, " +
            "so the committed summary.json is rebuilt by `report --runs OUT/runs`. Needs --out outside DIR (e.g. results/<setting>)");
        var command = new Command("report",
            "plots, index.html and summary.json comparing the arms of an experiment directory. Compares the runs under --runs, " +
            "laid out as <arm>/seed-<n>/ (what `rorecomp compare` writes; each run directory with metrics.jsonl, " +
            "eval-baseline.json and, once finished, summary.json). Writes into --out (default DIR/report): PNG plots over steps " +
            "of mean response length, held-out accuracy and mean length, tool calls, entropy and the priority/compensation batch " +
            "sizes (per arm the mean across seeds with a min-max band), index.html with the plots and a table of final held-out " +
            "accuracy and length change relative to the grpo arm (mean and [min, max] across seeds), and summary.json with the " +
            "same per arm and per seed. Partial runs and missing arms or seeds are reported, not fatal.")
        {
            runs, outDir, atStep, copy,
        };
        command.SetAction(p =>
        {
            var dir = p.GetValue(runs)!;
            var output = p.GetValue(outDir);
            try
            {
                if (p.GetValue(copy))
                {
                    if (output is null) throw new ReportException("--copy-evidence: give --out (the results folder, e.g. results/<setting>)");
                    var copied = RunEvidence.Copy(dir, Path.Combine(output, RunEvidence.RunsFolder));
                    foreach (var s in copied.Skipped) Console.Out.WriteLine($"report: not copied: {s}");
                    Console.Out.WriteLine($"report: copied {copied.Files.Count} files ({copied.Bytes / 1024.0:F0} KiB) into {Path.GetFullPath(Path.Combine(output, RunEvidence.RunsFolder))}");
                    dir = Path.Combine(output, RunEvidence.RunsFolder);
                }
                Print(ExperimentReport.Write(dir, output ?? Path.Combine(dir, "report"), p.GetValue(atStep)), Console.Out);
                return 0;
            }
            catch (ReportException ex)
            {
                Console.Error.WriteLine($"report: {ex.Message}");
                return CliKit.UsageError;
            }
        });
        return command;
    }

    /// <summary>The warnings, then where the report is.</summary>
    public static void Print(ReportResult result, TextWriter output)
    {
        foreach (var w in result.Warnings) output.WriteLine($"report: warning: {w}");
        output.WriteLine($"report: {result.Plots.Count} plots, index.html and summary.json in {result.OutDir}");
    }
}
