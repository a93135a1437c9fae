using RoRecomp.Actors.Bench;

namespace RoRecomp.Actors.Tests.Bench;

public sealed class ReplayBufferBenchmarkTests
{
    [Fact]
    public async Task Small_run_recovers_the_full_buffer_and_keeps_the_journal_near_what_it_holds()
    {
        var dir = Path.Combine(Path.GetTempPath(), "rorecomp-bench-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            // 25 buffers' worth pass through a buffer of 40: without compaction the journal would hold 25 x the buffer.
            var r = await ReplayBufferBenchmark.Run(dir, new ReplayBufferBenchOptions(Responses: 1000, BatchSize: 8, Tokens: 128, Capacity: 40, SnapshotEvery: 1000));
            Assert.Equal(40, r.Recovered);
            Assert.True(r.ResponsesPerSecond > 0 && r.RecoverySeconds > 0 && r.JournalMbPerSecond > 0);
            Assert.True(r.JournaledBytes > 20 * r.HeldBytes, $"{r.JournaledBytes} journaled, {r.HeldBytes} held");
            // A snapshot (1 x) + fewer than a buffer's worth of events since it + the one event the SQL journal keeps as its marker.
            Assert.InRange(r.JournalBytesRatio, 1.0, 2.0 + 8.0 / 40);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
        }
    }
}
