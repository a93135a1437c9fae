using System.Globalization;
using RoRecomp.Settings;
using RoRecomp.Actors.Coordination;
using RoRecomp.Training.Runs;
using RoRecomp.Actors.Protocols;
using RoRecomp.Training;
using RoRecomp.Actors.Runners;
using RoRecomp.Actors.Hosting;
using RoRecomp.Model.Checkpoints;

namespace RoRecomp.Cli.Commands;

/// <summary>`rorecomp train`: the main job (RLVR with RoRecomp on the actor pipeline, one node).</summary>
public static class TrainCommand
{
    private const string Usage = """
        usage: rorecomp train [--config FILE] [--set key=value]... [--run-dir DIR] [--resume] [--steps N]
                              [--cluster [--port P (4053)] [--hostname H]]

        Runs the thinking-compression analog end to end with the defaults (hocon/reference.conf): a supervised warm
        start when the run directory has none, then RL with RoRecomp on a one-node Akka cluster, with a live progress
        line, <run-dir>/metrics.jsonl (one line per step), checkpoints, and <run-dir>/summary.json at the end.
          --config FILE     HOCON layered over the defaults (rorecomp.* keys; unknown keys are refused)
          --set key=value   override one key, e.g. --set recomposition.enabled=off (repeatable; rorecomp. is optional)
          --run-dir DIR     run directory (default rorecomp.run.run-dir = runs/default)
          --resume          continue the interrupted run in the run directory from its last checkpoint
          --steps N         total RL steps (default rorecomp.run.steps)
          --cluster         be the learner side of a cluster (coordinator, learner, buffer, verifier) as a seed node on
                            --port; samplers join with `rorecomp node --roles sampler,verifier --seed akka.tcp://rorecomp@H:P`
          --hostname H      the address other nodes reach this one at (default rorecomp.cluster.hostname = 127.0.0.1)
        """;

    public static int Run(string[] args)
    {
        if (args is ["--help"] or ["-h"])
        {
            Console.WriteLine(Usage);
            return 0;
        }
        TrainOptions options;
        try
        {
            var o = CliOptions.Parse(args);
            options = new TrainOptions(
                o.String("config"), o.Strings("set"), o.String("run-dir"), o.Flag("resume"),
                o.String("steps") is { } s ? ParseSteps(s) : null,
                o.Flag("cluster"), o.String("port") is { } p ? CliOptions.Port(p) : null, o.String("hostname"));
            o.RejectUnknown();
        }
        catch (CliException ex)
        {
            Console.Error.WriteLine($"train: {ex.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }

        using var signals = new StopSignals("train: stopping ({signal}); the run can be continued with --resume");
        try
        {
            var summary = TrainRunner.RunAsync(options, Console.Out, !Console.IsOutputRedirected, signals.Token).GetAwaiter().GetResult();
            PrintSummary(summary);
            return 0;
        }
        catch (SettingsException ex)
        {
            Console.Error.WriteLine($"train: {ex.Message}");
            return 2;
        }
        catch (CheckpointException ex)
        {
            Console.Error.WriteLine($"train: {ex.Message}");
            return 2;
        }
        catch (RunFailedException ex)
        {
            Console.Error.WriteLine($"train: the run failed: {ex.Message}");
            Console.Error.WriteLine("train: continue it from its last checkpoint with --resume once the cause is fixed");
            return 1;
        }
        catch (OperationCanceledException ex)
        {
            Console.Error.WriteLine(ex.Message);
            return 130;
        }
    }

    private static void PrintSummary(RunSummary s)
    {
        Console.WriteLine();
        Console.WriteLine($"train done: {s.Steps} steps, {s.WallSeconds / 60:F1} min ({s.Task}, recomposition {(s.Recomposition ? "on" : "off")})");
        Console.WriteLine("                 held-out accuracy   mean length   tool calls");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  warm start     {s.WarmStartAccuracy,10:P1}   {s.WarmStartMeanLength,12:F1}   {s.WarmStartToolCalls,10:F2}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  after RL       {s.FinalAccuracy,10:P1}   {s.FinalMeanLength,12:F1}   {s.FinalToolCalls,10:F2}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  change         {s.AccuracyChangePoints,+9:+0.0;-0.0} pt   {s.LengthChangePercent,+11:+0.0;-0.0}%"));
    }

    private static int ParseSteps(string s) =>
        int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 1
            ? v
            : throw new CliException($"--steps {s}: expected a positive integer");
}
