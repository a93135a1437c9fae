using System.Diagnostics;
using System.Globalization;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Sft;

namespace RoRecomp.Cli.Commands;

/// <summary>`rorecomp sft --task NAME --run-dir DIR [--seed N]`: the supervised warm start that `train` starts from.</summary>
public static class SftCommand
{
    private const string Usage = """
        usage: rorecomp sft --task NAME --run-dir DIR [--seed N (1)] [--steps N (600)] [--target-accuracy X]
                            [--batch N (64)] [--lr X (0.002)] [--eval-every N (50)] [--eval-prompts N (128)]

        Trains the tiny policy on the task's warm-start traces until the held-out sampled accuracy reaches the target
        (or the step budget runs out), then writes <run-dir>/sft/ (checkpoint) and <run-dir>/sft-summary.json.
        Tasks: thinking, zero-rl, agentic.
        """;

    public static int Run(string[] args)
    {
        if (args is ["--help"] or ["-h"])
        {
            Console.WriteLine(Usage);
            return 0;
        }
        SftOptions options;
        string runDir;
        try
        {
            var o = CliOptions.Parse(args);
            var task = o.String("task") ?? throw new CliException("--task is required (thinking, zero-rl, agentic)");
            runDir = o.String("run-dir") ?? throw new CliException("--run-dir is required");
            var target = o.String("target-accuracy");
            options = new SftOptions(
                Task: task,
                Seed: o.Int("seed", 1),
                MaxSteps: o.Int("steps", 600),
                TargetAccuracy: target is null ? null : ParseFraction(target),
                BatchSize: o.Int("batch", 64),
                LearningRate: o.String("lr") is { } lr ? double.Parse(lr, CultureInfo.InvariantCulture) : 2e-3,
                EvalEvery: o.Int("eval-every", 50),
                EvalPrompts: o.Int("eval-prompts", 128));
            o.RejectUnknown();
            Directory.CreateDirectory(runDir);
        }
        catch (Exception ex) when (ex is CliException or FormatException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"sft: {ex.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var sw = Stopwatch.StartNew();
        var interactive = !Console.IsOutputRedirected;
        var progress = new ProgressLine(Console.Out, interactive, interactive && Console.WindowWidth > 0 ? Math.Min(Console.WindowWidth - 1, 160) : 120);
        try
        {
            var summary = SftRunner.Run(runDir, options, (step, total, loss, eval) =>
            {
                var eta = TimeSpan.FromSeconds(sw.Elapsed.TotalSeconds / step * (total - step));
                var bar = new string('#', 30 * step / total).PadRight(30, '.');
                var line = $"sft {options.Task} [{bar}] {step}/{total} loss {loss:F3}  {sw.Elapsed:mm\\:ss} elapsed, eta {eta:mm\\:ss}";
                if (eval != null) line += $"  | eval acc {eval.Accuracy:P1} len {eval.MeanLength:F1} tools {eval.ToolCalls:F2}";
                progress.Show(line, keep: eval != null, plain: step % 25 == 0);
            });
            progress.End();
            Console.WriteLine($"sft done: {summary.Steps} steps in {summary.WallSeconds:F0} s; held-out sampled accuracy {summary.EvalAccuracy:P1}, " +
                $"mean length {summary.EvalMeanLength:F1} tokens, tool calls {summary.EvalToolCalls:F2}, format valid {summary.EvalFormatValid:P0}");
            Console.WriteLine($"checkpoint: {Path.Combine(runDir, summary.Checkpoint)}; summary: {RunFiles.PathOf(runDir, RunFiles.SftSummaryFile)}");
            return 0;
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"sft: {ex.Message}");
            return 2;
        }
    }

    private static double ParseFraction(string s) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v is > 0 and <= 1
            ? v
            : throw new CliException($"--target-accuracy {s}: expected a number in (0, 1]");
}
