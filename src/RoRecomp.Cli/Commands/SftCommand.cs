using System.CommandLine;
using System.Diagnostics;
using RoRecomp.Tasks;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Sft;

namespace RoRecomp.Cli.Commands;

/// <summary>`rorecomp sft --task NAME --run-dir DIR [--seed N]`: the supervised warm start that `train` starts from.</summary>
public static class SftCommand
{
    /// <summary>The command with its options.</summary>
    public static Command Create()
    {
        var task = CliKit.Text("--task", "NAME", $"the task: {string.Join(", ", TaskRegistry.Names)}", required: true);
        var runDir = CliKit.Text("--run-dir", "DIR", "where <run-dir>/sft/ and <run-dir>/sft-summary.json go", required: true);
        var seed = CliKit.Positive("--seed", 1, "seed");
        var steps = CliKit.Positive("--steps", 600, "step budget");
        var target = CliKit.Fraction("--target-accuracy", "stop once the held-out sampled accuracy reaches this");
        var batch = CliKit.Positive("--batch", 64, "traces per step");
        var lr = CliKit.PositiveNumber("--lr", 2e-3, "learning rate");
        var evalEvery = CliKit.Positive("--eval-every", 50, "steps between held-out evaluations");
        var evalPrompts = CliKit.Positive("--eval-prompts", 128, "held-out prompts per evaluation");
        var command = new Command("sft",
            "supervised warm start on a task's traces (writes the checkpoint train starts from). Trains the tiny policy on the " +
            "task's warm-start traces until the held-out sampled accuracy reaches the target (or the step budget runs out), then " +
            "writes <run-dir>/sft/ (checkpoint) and <run-dir>/sft-summary.json.")
        {
            task, runDir, seed, steps, target, batch, lr, evalEvery, evalPrompts,
        };
        command.SetAction(p =>
        {
            var options = new SftOptions(
                Task: p.GetValue(task)!, Seed: p.GetValue(seed), MaxSteps: p.GetValue(steps), TargetAccuracy: p.GetValue(target),
                BatchSize: p.GetValue(batch), LearningRate: p.GetValue(lr), EvalEvery: p.GetValue(evalEvery), EvalPrompts: p.GetValue(evalPrompts));
            var dir = p.GetValue(runDir)!;
            using var signals = new StopSignals("sft: stopping ({signal}); no checkpoint is written, run the same command again to start over");
            try
            {
                Directory.CreateDirectory(dir);
                Run(dir, options, signals.Token);
                return 0;
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine("sft: stopped before the warm start was done; nothing was written");
                return CliKit.Interrupted;
            }
            catch (Exception ex) when (ex is ArgumentException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"sft: {ex.Message}");
                return CliKit.UsageError;
            }
        });
        return command;
    }

    private static void Run(string runDir, SftOptions options, CancellationToken cancellationToken)
    {
        var sw = Stopwatch.StartNew();
        var interactive = !Console.IsOutputRedirected;
        var progress = new ProgressLine(Console.Out, interactive, interactive && Console.WindowWidth > 0 ? Math.Min(Console.WindowWidth - 1, 160) : 120);
        var summary = SftRunner.Run(runDir, options, (step, total, loss, eval) =>
        {
            var eta = TimeSpan.FromSeconds(sw.Elapsed.TotalSeconds / step * (total - step));
            var bar = new string('#', 30 * step / total).PadRight(30, '.');
            var line = $"sft {options.Task} [{bar}] {step}/{total} loss {loss:F3}  {sw.Elapsed:mm\\:ss} elapsed, eta {eta:mm\\:ss}";
            if (eval != null) line += $"  | eval acc {eval.Accuracy:P1} len {eval.MeanLength:F1} tools {eval.ToolCalls:F2}";
            progress.Show(line, keep: eval != null, plain: step % 25 == 0);
        }, cancellationToken);
        progress.End();
        Console.WriteLine($"sft done: {summary.Steps} steps in {summary.WallSeconds:F0} s; held-out sampled accuracy {summary.EvalAccuracy:P1}, " +
            $"mean length {summary.EvalMeanLength:F1} tokens, tool calls {summary.EvalToolCalls:F2}, format valid {summary.EvalFormatValid:P0}");
        Console.WriteLine($"checkpoint: {Path.Combine(runDir, summary.Checkpoint)}; summary: {RunFiles.PathOf(runDir, RunFiles.SftSummaryFile)}");
    }
}
