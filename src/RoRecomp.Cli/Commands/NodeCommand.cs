using System.CommandLine;
using RoRecomp.Actors.Runners;
using RoRecomp.Settings;

namespace RoRecomp.Cli.Commands;

/// <summary>`rorecomp node --roles sampler --seed ADDRESS`: a worker node that joins a running cluster.</summary>
public static class NodeCommand
{
    /// <summary>The command with its options.</summary>
    public static Command Create()
    {
        var roles = CliKit.Text("--roles", "R1[,R2...]",
            "sampler, verifier, buffer (comma-separated); a sampler pulls leases, samples with its own model copy and fetches " +
            "weights from the learner; a verifier scores rollouts", required: true);
        var seeds = new Option<string[]>("--seed")
        {
            Description = "the learner node's address, akka.tcp://rorecomp@HOST:PORT (repeatable)",
            HelpName = "ADDRESS",
            Required = true,
        };
        var config = CliKit.Config("HOCON over the defaults: give every node the run's config (task, sampling settings)");
        var set = CliKit.Set();
        var hostname = CliKit.Text("--hostname", "H", "the address other nodes reach this one at (default 127.0.0.1: same machine only)");
        var port = CliKit.Port("Akka.Remote port (default 0: any free port)");
        var command = new Command("node",
            "join a running cluster as a sampler/verifier/buffer node (the learner runs `train --cluster`) and work there until " +
            "stopped (Ctrl+C or SIGTERM: it leaves the cluster gracefully; a node that loses the cluster rejoins its seeds).")
        {
            roles, seeds, config, set, hostname, port,
        };
        command.SetAction(p =>
        {
            var options = new NodeOptions(new SettingsOverrides(p.GetValue(config), p.GetValue(set))
            {
                Roles = [.. CliKit.List(p.GetValue(roles) ?? "")],
                SeedNodes = [.. p.GetValue(seeds) ?? []],
                Hostname = p.GetValue(hostname),
                Port = p.GetValue(port),
            });
            using var signals = new StopSignals(null);
            return CliKit.Handle("node", () =>
            {
                var code = 0;
                try
                {
                    code = NodeRunner.RunAsync(options, Console.Out, signals.Token).GetAwaiter().GetResult();
                }
                catch (OperationCanceledException)
                {
                    // Stopped by a signal: the node left the cluster.
                }
                Console.WriteLine("node: left the cluster");
                return code;
            });
        });
        return command;
    }
}
