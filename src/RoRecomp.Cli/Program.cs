using RoRecomp.Cli.Commands;

namespace RoRecomp.Cli;

/// <summary>Entry point: `rorecomp &lt;command&gt; [options]`. Each command lives in its own file under Commands/.</summary>
public static class Program
{
    /// <summary>The commands, by name: (one-line help, entry point taking the remaining arguments and returning an exit code).</summary>
    private static readonly SortedDictionary<string, (string Help, Func<string[], int> Run)> Commands = new(StringComparer.Ordinal)
    {
        ["bench"] = ("benchmarks of the DESIGN.md §4 targets (bench buffer, ...)", BenchCommand.Run),
        ["compare"] = ("every (arm, seed) of an experiment in turn from a shared warm start per seed, then the report", CompareCommand.Run),
        ["node"] = ("join a running cluster as a sampler/verifier/buffer node (the learner runs `train --cluster`)", NodeCommand.Run),
        ["report"] = ("plots, index.html and summary.json comparing the arms of an experiment directory (<arm>/seed-<n>/)", ReportCommand.Run),
        ["sft"] = ("supervised warm start on a task's traces (writes the checkpoint train starts from)", SftCommand.Run),
        ["train"] = ("the main job: RLVR with RoRecomp on the actor pipeline (warm start first if needed)", TrainCommand.Run),
    };

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
        {
            PrintUsage(Console.Out);
            return 0;
        }
        if (!Commands.TryGetValue(args[0], out var command))
        {
            Console.Error.WriteLine($"rorecomp: unknown command '{args[0]}'.");
            PrintUsage(Console.Error);
            return 2;
        }
        return command.Run(args[1..]);
    }

    private static void PrintUsage(TextWriter w)
    {
        w.WriteLine("usage: rorecomp <command> [options]   (rorecomp <command> --help for its options)");
        w.WriteLine();
        w.WriteLine("commands:");
        foreach (var (name, (help, _)) in Commands) w.WriteLine($"  {name,-10} {help}");
    }
}
