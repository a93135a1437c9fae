namespace RoRecomp.Model.Tests.Checkpoints;

/// <summary>
/// A <see cref="FactAttribute"/> for tests that write and read files of more than 2 GiB: skipped, with the reason, unless
/// the environment variable <see cref="Variable"/> is <c>1</c> (<c>.ci/run</c> sets it). On an idle machine such a test
/// takes seconds; on a shared one its disk traffic takes minutes, too long for every local <c>dotnet test</c>.
/// </summary>
public sealed class LargeFileFactAttribute : FactAttribute
{
    /// <summary>Set to 1 to run the large-file tests.</summary>
    public const string Variable = "RORECOMP_TEST_LARGE";

    public LargeFileFactAttribute()
    {
        if (Environment.GetEnvironmentVariable(Variable) != "1")
            Skip = $"{Variable} is not 1: the > 2 GiB file round trip (about 4.5 GB of disk traffic) is not run";
    }
}
