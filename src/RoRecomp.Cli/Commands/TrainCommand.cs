using System.CommandLine;
using System.Globalization;
using RoRecomp.Actors.Runners;
using RoRecomp.Settings;
using RoRecomp.Training.Runs;

namespace RoRecomp.Cli.Commands;

/// <summary>`rorecomp train`: the main job (RLVR with RoRecomp on the actor pipeline, one node).</summary>
public static class TrainCommand
{
    /// <summary>The command with its options.</summary>
    public static Command Create()
    {
        var config = CliKit.Config();
        var set = CliKit.Set();
        var runDir = CliKit.Text("--run-dir", "DIR", "run directory (default rorecomp.run.run-dir = runs/default)");
        var resume = CliKit.Flag("--resume", "continue the interrupted run in the run directory from its last checkpoint");
        var steps = CliKit.Positive("--steps", "total RL steps (default rorecomp.run.steps)");
        var cluster = CliKit.Flag("--cluster",
            "be the learner side of a cluster (coordinator, learner, buffer, verifier) as a seed node on --port; samplers join with " +
            "`rorecomp node --roles sampler,verifier --seed akka.tcp://rorecomp@H:P`");
        var port = CliKit.Port($"Akka.Remote port with --cluster (default {TrainRunner.ClusterPort})");
        var hostname = CliKit.Text("--hostname", "H", "the address other nodes reach this one at (default rorecomp.cluster.hostname = 127.0.0.1)");
        var command = new Command("train",
            "the main job: RLVR with RoRecomp on the actor pipeline (warm start first if needed). Runs the thinking-compression " +
            "analog end to end with the defaults (hocon/reference.conf): a supervised warm start when the run directory has none, " +
            "then RL with RoRecomp on a one-node Akka cluster, with a live progress line, <run-dir>/metrics.jsonl (one line per " +
            "step), checkpoints, and <run-dir>/summary.json at the end.")
        {
            config, set, runDir, resume, steps, cluster, port, hostname,
        };
        command.SetAction(p =>
        {
            var options = new TrainOptions(
                new SettingsOverrides(p.GetValue(config), p.GetValue(set))
                {
                    RunDir = p.GetValue(runDir),
                    Steps = p.GetValue(steps),
                    Hostname = p.GetValue(hostname),
                    Port = p.GetValue(port),
                },
                p.GetValue(resume), p.GetValue(cluster));
            using var signals = new StopSignals("train: stopping ({signal}); the run can be continued with --resume");
            return CliKit.Handle("train", () =>
            {
                var summary = TrainRunner.RunAsync(options, Console.Out, !Console.IsOutputRedirected, signals.Token).GetAwaiter().GetResult();
                PrintSummary(summary);
                return 0;
            }, afterFailure: "continue it from its last checkpoint with --resume once the cause is fixed");
        });
        return command;
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
}
