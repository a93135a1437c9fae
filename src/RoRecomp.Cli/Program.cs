namespace RoRecomp.Cli;

/// <summary>Entry point: `rorecomp &lt;command&gt; [options]`. Each command lives in its own file under Commands/.</summary>
public static class Program
{
    private const string Usage = """
        usage: rorecomp <command> [options]

        commands:
          train     run the RLVR training job (not yet implemented: lands with the pipeline issue)
          help      show this text
        """;

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
        {
            Console.WriteLine(Usage);
            return 0;
        }
        switch (args[0])
        {
            case "train":
                Console.Error.WriteLine("train: the actor pipeline is not implemented yet (see the issue 'The actor pipeline on one node and the train main job').");
                return 2;
            default:
                Console.Error.WriteLine($"unknown command '{args[0]}'.");
                Console.Error.WriteLine(Usage);
                return 2;
        }
    }
}
