using System.CommandLine;
using System.Globalization;
using RoRecomp.Cli.Chaos;

namespace RoRecomp.Cli.Commands;

/// <summary>`rorecomp chaos --faults N --seed S`: the fault-injection harness with the undisturbed run as its oracle.</summary>
public static class ChaosCommand
{
    /// <summary>The command with its options.</summary>
    public static Command Create()
    {
        var faults = new Option<int>("--faults")
        {
            Description = "faults to inject into the disturbed run (drawn from the catalogue with --seed)",
            HelpName = "N",
            Required = true,
            CustomParser = r => int.TryParse(r.Tokens[0].Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 1 ? v : Fail(r, "a positive integer"),
        };
        var seed = new Option<int>("--seed")
        {
            Description = "seed of the fault plan, of the runs (run.seed) and of their random micro warm start (default 1)",
            HelpName = "S",
            DefaultValueFactory = _ => 1,
            CustomParser = r => int.TryParse(r.Tokens[0].Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0 ? v : Fail(r, "an integer >= 0"),
        };
        var journal = new Option<string>("--journal")
        {
            Description = "sqlite (a journal file in each run directory) or postgresql (a PostgreSQL server of the harness's own on 127.0.0.1, " +
                "which the `db` fault restarts in immediate mode; needs the postgresql package's server binaries)",
            HelpName = "sqlite|postgresql",
            DefaultValueFactory = _ => "sqlite",
        };
        journal.AcceptOnlyFromAmong("sqlite", "postgresql");
        var lag = new Option<int>("--max-policy-lag")
        {
            Description = "async.max-policy-lag of the runs (default 0: deterministic, so the undisturbed run is the oracle; >= 1: the oracle " +
                "checks that no prompt is lost or counted twice and that every step's policy_lag stays within L)",
            HelpName = "L",
            CustomParser = r => int.TryParse(r.Tokens[0].Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0 ? v : Fail(r, "an integer >= 0"),
        };
        var samplers = CliKit.Positive("--samplers", 3, "sampler nodes (>= 3)");
        var steps = CliKit.Positive("--steps", "steps of each run (default max(24, 2 x faults)); a fault fires at a random step in [1, steps - 2]");
        var outDir = CliKit.Text("--out", "DIR", "where the runs, node logs and chaos.log go (default runs/chaos-<seed>); must not hold an earlier chaos run");
        var set = CliKit.Set("override a key of both runs and every node, e.g. --set sampling.max-new-tokens=16 (repeatable)");
        var ignore = new Option<string[]>("--ignore-key")
        {
            Description = "a metrics.jsonl key whose differences are reported but do not fail the comparison (repeatable; for known holes being fixed)",
            HelpName = "KEY",
            DefaultValueFactory = _ => [],
        };
        var kinds = new Option<string[]>("--kind")
        {
            Description = "restrict the fault catalogue to this kind (repeatable; default every kind that applies): kill-sampler, kill-sampler-fetch, " +
                "kill-verifier, kill-learner, kill-learner-checkpoint, stop, partition, disk, db, db-down (partition and disk need root; db and " +
                "db-down need --journal postgresql)",
            HelpName = "KIND",
            DefaultValueFactory = _ => [],
        };
        var command = new Command("chaos",
            "fault-injection harness: runs the undisturbed reference run (one node, same seed and config; only with max-policy-lag 0), " +
            "then the same run as a real cluster of separate processes on 127.0.0.1 (train --cluster, >= 3 sampler nodes, a verifier " +
            "node) while it injects seeded faults: SIGKILL of a sampler (also while it fetches new weights), of the verifier node and of " +
            "the learner side (also while it writes a checkpoint; restarted with --resume), SIGSTOP of a sampler past run.lease-timeout " +
            "then SIGCONT; as root a network partition of a worker node (each in a network namespace of the harness's own) for longer than " +
            "cluster.stable-after and a full disk (the run directory on a small tmpfs filled with a ballast file for a while); with --journal " +
            "postgresql a restart of the database and the database stopped for longer than a step. Each fault's time and kind go to <out>/chaos.log. " +
            "The oracle: metrics.jsonl equal to the reference on every key but wall time, the replay buffer's final ids equal, the final " +
            "checkpoint's SHA-256 equal, no response lost or counted twice, policy_lag within the bound. Prints one line, `chaos: " +
            "faults N (...), steps S/S, equal to undisturbed: yes, responses lost 0, duplicates 0, wall T s`, and exits 1 on any difference.")
        {
            faults, seed, journal, lag, samplers, steps, outDir, set, ignore, kinds,
        };
        command.SetAction(p =>
        {
            var s = p.GetValue(seed);
            var options = new ChaosOptions(p.GetValue(faults), s, p.GetValue(outDir) ?? Path.Combine("runs", $"chaos-{s}"))
            {
                Journal = p.GetValue(journal) ?? "sqlite",
                MaxPolicyLag = p.GetValue(lag),
                Samplers = p.GetValue(samplers),
                Steps = p.GetValue(steps),
                Sets = p.GetValue(set) ?? [],
                IgnoreKeys = p.GetValue(ignore) ?? [],
                Kinds = p.GetValue(kinds) ?? [],
            };
            using var signals = new StopSignals("chaos: stopping ({signal}); the nodes are stopped");
            return CliKit.Handle("chaos", () =>
            {
                ChaosResult result;
                try
                {
                    result = ChaosRunner.RunAsync(options, Console.Out, signals.Token).GetAwaiter().GetResult();
                }
                catch (ArgumentException e)
                {
                    Console.Error.WriteLine($"chaos: {e.Message}");
                    return CliKit.UsageError;
                }
                catch (InvalidOperationException e)
                {
                    Console.Error.WriteLine($"chaos: {e.Message}");
                    return CliKit.RunFailed;
                }
                Console.WriteLine(result.Line());
                return result.Ok ? 0 : CliKit.RunFailed;
            });
        });
        return command;
    }

    private static int Fail(System.CommandLine.Parsing.ArgumentResult r, string expected)
    {
        var option = r.Parent is System.CommandLine.Parsing.OptionResult o ? o.Option.Name : "value";
        r.AddError($"{option} {r.Tokens[0].Value}: expected {expected}");
        return 0;
    }
}
