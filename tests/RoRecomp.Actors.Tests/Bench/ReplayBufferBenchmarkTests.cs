using RoRecomp.Actors.Bench;

namespace RoRecomp.Actors.Tests.Bench;

public sealed class ReplayBufferBenchmarkTests
{
    [Fact]
    public async Task Small_run_recovers_every_journaled_response()
    {
        var dir = Path.Combine(Path.GetTempPath(), "rorecomp-bench-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            var r = await ReplayBufferBenchmark.Run(dir, responses: 1000, batchSize: 64, tokens: 16, snapshotEvery: 5);
            Assert.Equal(1000, r.Recovered);
            Assert.True(r.ResponsesPerSecond > 0 && r.RecoverySeconds > 0 && r.JournalBytes > 0);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
        }
    }
}
