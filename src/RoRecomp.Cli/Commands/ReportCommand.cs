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
        var command = new Command("report",
            "plots, index.html and summary.json comparing the arms of an experiment directory. Compares the runs under --runs, " +
            "laid out as <arm>/seed-<n>/ (what `rorecomp compare` writes; each run directory with metrics.jsonl, " +
            "eval-baseline.json and, once finished, summary.json). Writes into --out (default DIR/report): PNG plots over steps " +
            "of mean response length, held-out accuracy and mean length, tool calls, entropy and the priority/compensation batch " +
            "sizes (per arm the mean across seeds with a min-max band), index.html with the plots and a table of final held-out " +
            "accuracy and length change relative to the grpo arm (mean and [min, max] across seeds), and summary.json with the " +
            "same per arm and per seed. Partial runs and missing arms or seeds are reported, not fatal.")
        {
            runs, outDir,
        };
        command.SetAction(p =>
        {
            var dir = p.GetValue(runs)!;
            try
            {
                Print(ExperimentReport.Write(dir, p.GetValue(outDir) ?? Path.Combine(dir, "report")), Console.Out);
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
