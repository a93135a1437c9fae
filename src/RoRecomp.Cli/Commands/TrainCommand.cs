namespace RoRecomp.Cli.Commands;

/// <summary>`rorecomp train`: the main job. A placeholder until the actor pipeline lands.</summary>
public static class TrainCommand
{
    public static int Run(string[] args)
    {
        Console.Error.WriteLine("train: the actor pipeline is not implemented yet (it lands with the pipeline issue).");
        return 2;
    }
}
