using System.Globalization;
using RoRecomp.Settings;
using RoRecomp.Cli.Experiments;
using RoRecomp.Model.Checkpoints;

namespace RoRecomp.Cli.Commands;

/// <summary>`rorecomp compare`: every (arm, seed) of an experiment in turn, then the report.</summary>
public static class CompareCommand
{
    private const string Usage = """
        usage: rorecomp compare --task T --arms A,B,... --seeds S1,S2,... --out DIR [--steps N] [--config FILE] [--set key=value]...

        Runs each (arm, seed) in turn, in this process, into DIR/<arm>/seed-<n> (a `train` run each), then writes the
        report (`rorecomp report --runs DIR`) to DIR/report. Every arm of a seed starts from the same warm start, trained
        once into DIR/warm-<n> (unless model.checkpoint is set). A finished run (summary.json present) is skipped and an
        interrupted one resumed, so running the same command again continues the comparison.
          --task T          thinking | zero-rl | agentic; hocon/experiments/T.conf is layered in when it exists
          --arms A,B,...    grpo (recomposition off), rorecomp (the defaults), length-penalty (recomposition off,
                            reward.length-penalty = the configured value if > 0, else 0.5), or NAME for an arm config
                            hocon/experiments/NAME.conf (e.g. priority-only, scope-group, advantage-original,
                            compensation-linear, compensation-cosine) layered over the rorecomp defaults
          --seeds S1,...    seeds (run.seed of the warm start and of each RL run)
          --out DIR         the experiment directory
          --steps N         RL steps per run (default run.steps of the layers)
          --config FILE     HOCON over the task config, under the arm's layer
          --set key=value   override for every arm (repeatable); an arm's own keys win over it
        """;

    public static int Run(string[] args)
    {
        if (args is ["--help"] or ["-h"])
        {
            Console.WriteLine(Usage);
            return 0;
        }
        ExperimentOptions options;
        try
        {
            var o = CliOptions.Parse(args);
            options = new ExperimentOptions(
                o.String("task") ?? throw new CliException("--task is required"),
                List(o.String("arms") ?? throw new CliException("--arms is required")),
                [.. List(o.String("seeds") ?? throw new CliException("--seeds is required")).Select(Seed)],
                o.String("out") ?? throw new CliException("--out DIR is required"),
                o.String("steps") is null ? null : o.Int("steps", 1),
                o.String("config"), o.Strings("set"));
            o.RejectUnknown();
        }
        catch (CliException ex)
        {
            Console.Error.WriteLine($"compare: {ex.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }

        using var signals = new StopSignals("compare: stopping ({signal}); run the same command again to continue");
        try
        {
            var result = CompareRunner.RunAsync(options, Console.Out, signals.Token).GetAwaiter().GetResult();
            Console.WriteLine($"compare: {result.Ran} run(s) trained, {result.Skipped} skipped (finished earlier), {result.Failed.Count} failed");
            foreach (var f in result.Failed) Console.Error.WriteLine($"compare: failed: {f}");
            if (result.Report is { } report) ReportCommand.Print(report, Console.Out);
            return result.Failed.Count > 0 ? 1 : 0;
        }
        catch (SettingsException ex)
        {
            Console.Error.WriteLine($"compare: {ex.Message}");
            return 2;
        }
        catch (CheckpointException ex)
        {
            Console.Error.WriteLine($"compare: {ex.Message}");
            return 2;
        }
        catch (OperationCanceledException ex)
        {
            Console.Error.WriteLine(ex.Message);
            return 130;
        }
    }

    private static List<string> List(string s) => [.. s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    private static int Seed(string s) =>
        int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new CliException($"--seeds: '{s}' is not an integer");
}
