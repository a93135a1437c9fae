using System.CommandLine;
using System.Globalization;
using RoRecomp.Cli.Experiments;

namespace RoRecomp.Cli.Commands;

/// <summary>`rorecomp compare`: every (arm, seed) of an experiment in turn, then the report.</summary>
public static class CompareCommand
{
    /// <summary>The command with its options.</summary>
    public static Command Create()
    {
        var task = CliKit.Text("--task", "T", "thinking | zero-rl | agentic | agentic-mixed; hocon/experiments/T.conf is layered in when it exists", required: true);
        var arms = CliKit.Text("--arms", "A,B,...",
            "grpo (recomposition off), rorecomp (the defaults), length-penalty (recomposition off, reward.length-penalty = the " +
            "configured value if > 0, else 0.5), or NAME for an arm config hocon/experiments/NAME.conf (e.g. priority-only, " +
            "scope-group, advantage-original, compensation-linear, compensation-cosine) layered over the rorecomp defaults", required: true);
        var seeds = new Option<List<int>>("--seeds")
        {
            Description = "seeds (run.seed of the warm start and of each RL run)",
            HelpName = "S1,S2,...",
            Required = true,
            CustomParser = r =>
            {
                var list = new List<int>();
                foreach (var s in CliKit.List(r.Tokens[0].Value))
                {
                    if (int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)) list.Add(v);
                    else r.AddError($"--seeds: '{s}' is not an integer");
                }
                return list;
            },
        };
        var outDir = CliKit.Text("--out", "DIR", "the experiment directory", required: true);
        var steps = CliKit.Positive("--steps", "RL steps per run (default run.steps of the layers)");
        var config = CliKit.Config("HOCON over the task config, under the arm's layer");
        var set = CliKit.Set("override for every arm (repeatable); an arm's own keys win over it");
        var parallel = CliKit.Positive("--parallel", "runs at once, each in its own `rorecomp train` process with its output in DIR/logs (default 1: in turn, in this process); the results are the same either way");
        var command = new Command("compare",
            "every (arm, seed) of an experiment in turn from a shared warm start per seed, then the report. Runs each (arm, seed) " +
            "in turn, in this process, into DIR/<arm>/seed-<n> (a `train` run each), then writes the report (`rorecomp report " +
            "--runs DIR`) to DIR/report. Every arm of a seed starts from the same warm start, trained once into DIR/warm-<n> " +
            "(unless model.checkpoint is set). A finished run (summary.json present) is skipped and an interrupted one resumed, " +
            "so running the same command again continues the comparison.")
        {
            task, arms, seeds, outDir, steps, config, set, parallel,
        };
        command.SetAction(p =>
        {
            var options = new ExperimentOptions(
                p.GetValue(task)!, CliKit.List(p.GetValue(arms)!), p.GetValue(seeds)!, p.GetValue(outDir)!, p.GetValue(steps),
                p.GetValue(config), p.GetValue(set), Parallel: p.GetValue(parallel) ?? 1);
            using var signals = new StopSignals("compare: stopping ({signal}); run the same command again to continue");
            return CliKit.Handle("compare", () =>
            {
                var result = CompareRunner.RunAsync(options, Console.Out, signals.Token).GetAwaiter().GetResult();
                Console.WriteLine($"compare: {result.Ran} run(s) trained, {result.Skipped} skipped (finished earlier), {result.Failed.Count} failed");
                foreach (var f in result.Failed) Console.Error.WriteLine($"compare: failed: {f}");
                if (result.Report is { } report) ReportCommand.Print(report, Console.Out);
                return result.Failed.Count > 0 ? CliKit.RunFailed : 0;
            });
        });
        return command;
    }
}
