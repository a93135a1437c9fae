using System.CommandLine;
using RoRecomp.Training.Runs;

namespace RoRecomp.Cli.Commands;

/// <summary>`rorecomp eval [--run-dir DIR | --checkpoint DIR] [--eval-size N] [--out FILE]`: a checkpoint's held-out evaluation.</summary>
public static class EvalCommand
{
    /// <summary>The command with its options.</summary>
    public static Command Create()
    {
        var runDir = CliKit.Text("--run-dir", "DIR", "the run whose latest good checkpoint is evaluated, and whose run.conf gives the settings (default rorecomp.run.run-dir = runs/default)");
        var checkpoint = CliKit.Text("--checkpoint", "DIR", "evaluate this checkpoint directory (e.g. <run-dir>/checkpoints/step-000120) instead of the run's latest");
        var evalSize = CliKit.Positive("--eval-size", "held-out responses to sample (default the run's rorecomp.run.eval-size; a different size gives other figures than the run's)");
        var output = CliKit.Text("--out", "FILE", "also write the evaluation as JSON (eval-baseline.json's keys)");
        var command = new Command("eval",
            "the held-out evaluation a run makes every run.eval-every steps (the same prompts, seed and sampling, so the run's own " +
            "settings give the figures it recorded at that step) of a run's latest good checkpoint or a given one: accuracy, mean " +
            "length, tool calls, unnecessary tool calls for tasks that audit them (agentic, agentic-mixed), format validity. Reads the " +
            "run's settings from <run-dir>/run.conf.")
        {
            runDir, checkpoint, evalSize, output,
        };
        command.SetAction(p =>
        {
            var options = new EvalOptions(p.GetValue(runDir), p.GetValue(checkpoint), p.GetValue(output), p.GetValue(evalSize));
            return CliKit.Handle("eval", () =>
            {
                RunEvaluation.Run(options, Console.Out);
                return 0;
            });
        });
        return command;
    }
}
