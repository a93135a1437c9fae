using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using RoRecomp.Cli.Commands;

namespace RoRecomp.Cli;

/// <summary>Entry point: `rorecomp &lt;command&gt; [options]`. Each command lives in its own file under Commands/.</summary>
public static class Program
{
    /// <summary>The root command with every command under it.</summary>
    public static RootCommand Root() => new("rorecomp: RLVR training of language models with RoRecomp on an Akka.NET actor pipeline")
    {
        BenchCommand.Create(),
        ChaosCommand.Create(),
        CompareCommand.Create(),
        EvalCommand.Create(),
        ExportCommand.Create(),
        NodeCommand.Create(),
        ReportCommand.Create(),
        SftCommand.Create(),
        TrainCommand.Create(),
    };

    /// <summary>Parses and runs; a usage error prints the message and the command's help to stderr and exits with 2.</summary>
    public static int Main(string[] args)
    {
        var root = Root();
        if (args is [] or ["help"]) args = ["--help"];
        var result = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (result.Action is ParseErrorAction)
        {
            var path = CommandPath(result.CommandResult);
            foreach (var error in result.Errors) Console.Error.WriteLine($"{(path.Count == 0 ? "rorecomp" : string.Join(" ", path))}: {error.Message}");
            Console.Error.WriteLine();
            root.Parse([.. path, "--help"]).Invoke(new InvocationConfiguration { Output = Console.Error });
            return CliKit.UsageError;
        }
        return result.Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }

    /// <summary>The command's names below the root, e.g. ["bench", "pipeline"].</summary>
    private static List<string> CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is CommandResult c && c.Command is not RootCommand; r = r.Parent) names.Insert(0, c.Command.Name);
        return names;
    }
}
