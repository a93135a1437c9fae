namespace RoRecomp.Actors.Tests.Persistence;

/// <summary>
/// A <see cref="FactAttribute"/> for tests that need a PostgreSQL server: skipped, with the reason, when the environment
/// variable <see cref="Variable"/> holding its connection string is not set (<c>.ci/setup</c> sets it after starting a
/// local server), so a machine without PostgreSQL reports these tests as skipped rather than passed.
/// </summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    /// <summary>The environment variable with the Npgsql connection string of a database the tests may create tables in.</summary>
    public const string Variable = "RORECOMP_TEST_PG";

    public PostgresFactAttribute()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
            Skip = $"{Variable} is not set: no PostgreSQL to test against (.ci/setup starts one and sets it, e.g. " +
                "Host=127.0.0.1;Port=5432;Username=rorecomp;Password=rorecomp;Database=rorecomp_test)";
    }

    /// <summary>The connection string from <see cref="Variable"/>, or null.</summary>
    public static string? ConnectionString => Environment.GetEnvironmentVariable(Variable);
}
