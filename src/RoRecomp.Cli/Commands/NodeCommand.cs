using System.Collections.Immutable;
using RoRecomp.Settings;
using RoRecomp.Training;
using RoRecomp.Actors.Runners;
using RoRecomp.Actors.Hosting;

namespace RoRecomp.Cli.Commands;

/// <summary>`rorecomp node --roles sampler --seed ADDRESS`: a worker node that joins a running cluster.</summary>
public static class NodeCommand
{
    private const string Usage = """
        usage: rorecomp node --roles R1[,R2...] --seed akka.tcp://rorecomp@HOST:PORT [--seed ...] [--config FILE]
                             [--set key=value]... [--hostname H] [--port P]

        Joins the cluster whose learner node runs `rorecomp train --cluster` and works there until stopped (Ctrl+C or
        SIGTERM: it leaves the cluster gracefully; a node that loses the cluster rejoins its seeds).
          --roles      sampler, verifier, buffer (comma-separated); a sampler pulls leases, samples with its own model
                       copy and fetches weights from the learner; a verifier scores rollouts
          --seed       the learner node's address (repeatable)
          --config     HOCON over the defaults: give every node the run's config (task, sampling settings)
          --hostname   the address other nodes reach this one at (default 127.0.0.1: same machine only)
          --port       Akka.Remote port (default 0: any free port)
        """;

    public static int Run(string[] args)
    {
        if (args is ["--help"] or ["-h"])
        {
            Console.WriteLine(Usage);
            return 0;
        }
        NodeOptions options;
        try
        {
            var o = CliOptions.Parse(args);
            var roles = (o.String("roles") ?? throw new CliException("--roles is required (sampler, verifier, buffer)"))
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            options = new NodeOptions(
                o.String("config"), o.Strings("set"), [.. roles], [.. o.Strings("seed")], o.String("hostname"),
                o.String("port") is { } p ? CliOptions.Port(p) : null);
            o.RejectUnknown();
        }
        catch (CliException ex)
        {
            Console.Error.WriteLine($"node: {ex.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }

        using var signals = new StopSignals(null);
        try
        {
            NodeRunner.RunAsync(options, Console.Out, signals.Token).GetAwaiter().GetResult();
            Console.WriteLine("node: left the cluster");
            return 0;
        }
        catch (SettingsException ex)
        {
            Console.Error.WriteLine($"node: {ex.Message}");
            return 2;
        }
        catch (OperationCanceledException)
        {
            Console.WriteLine("node: left the cluster");
            return 0;
        }
    }
}
