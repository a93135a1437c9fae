using RoRecomp.Cli.Chaos;

namespace RoRecomp.Actors.Tests.Chaos;

/// <summary>
/// A <see cref="FactAttribute"/> for chaos tests that need root (network namespaces, a tmpfs mount) or PostgreSQL's
/// server binaries (a private server the harness stops): skipped, with the reason, when the machine lacks them (CI runs
/// as root and <c>.ci/setup</c> installs PostgreSQL), so such a machine reports them as skipped rather than passed.
/// A whole extra chaos run (<paramref name="run"/>: a reference and a disturbed cluster, about 2 minutes each on the
/// shared 2-core machine) runs only when <see cref="Variable"/> is 1, so that CI's chaos time stays what it was.
/// </summary>
public sealed class ChaosFactAttribute : FactAttribute
{
    /// <summary>Set to 1 to run the short chaos run of each newer fault kind (partition, disk, db-down).</summary>
    public const string Variable = "RORECOMP_TEST_CHAOS_KINDS";

    public ChaosFactAttribute(bool root = false, bool postgres = false, bool run = false)
    {
        if (run && Environment.GetEnvironmentVariable(Variable) != "1")
            Skip = $"a chaos run of its own (~2 min): set {Variable}=1 to run it";
        else if (root && !HostCommand.IsRoot)
            Skip = $"needs root (network namespaces, tmpfs mounts); running as {Environment.UserName}";
        else if (postgres && !Directory.EnumerateFiles("/usr/lib/postgresql", "pg_ctl", SearchOption.AllDirectories).Any())
            Skip = "needs PostgreSQL's server binaries under /usr/lib/postgresql (apt-get install postgresql; .ci/setup does)";
    }
}
