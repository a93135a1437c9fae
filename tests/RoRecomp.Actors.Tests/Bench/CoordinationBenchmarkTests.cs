using RoRecomp.Actors.Bench;
using RoRecomp.Settings;

namespace RoRecomp.Actors.Tests.Bench;

/// <summary><c>bench coordination</c> end to end: this process is the learner node, two `rorecomp` processes run the stand-in samplers.</summary>
public sealed class CoordinationBenchmarkTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-bench-coordination-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        TestDirs.Delete(_dir);
    }

    [Fact]
    public async Task Four_samplers_in_two_processes_deliver_every_group_and_report_sane_figures()
    {
        var o = new CoordinationBenchOptions(
            Samplers: [4], Processes: 2, GenerationMs: 50, UpdateMs: 60, ResponseTokens: 128, Steps: 3, Lag: 1, SamplesPerPrompt: 4,
            WorkerDll: Path.Combine(AppContext.BaseDirectory, "rorecomp.dll"), Settings: new SettingsOverrides());
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));

        var r = await CoordinationBenchmark.RunAsync(o, _dir, TextWriter.Null, timeout.Token);

        var p = Assert.Single(r.Points);
        Assert.Equal((4, 2, 4), (p.Samplers, p.Processes, p.GroupsPerStep));
        // Every group of every measured step reached the learner, with all its responses.
        Assert.Equal(3 * 4 * 4, p.WindowResponses);
        Assert.True(p.TrainedSteps >= 4, $"{p.TrainedSteps} steps trained");
        Assert.True(p.WallSeconds > 0 && double.IsFinite(p.GroupsPerSecond) && p.GroupsPerSecond > 0, $"{p.GroupsPerSecond} groups/s");
        // A step cannot beat its own generation or update time, so the overhead is finite and not below -ideal per group.
        Assert.True(double.IsFinite(p.OverheadMsPerGroup) && p.OverheadMsPerGroup > -p.IdealStepSeconds * 1000 / p.GroupsPerStep, $"{p.OverheadMsPerGroup} ms");
        Assert.InRange(p.LearnerIdleFraction, 0, 1);
        Assert.InRange(p.LearnerIdleForCoordination, 0, p.LearnerIdleFraction);
        // The responses cross the network at least once (sampler process -> learner node).
        Assert.True(p.BytesPerStep >= p.PayloadBytesPerStep, $"{p.BytesPerStep} remote bytes a step < payload {p.PayloadBytesPerStep}");
        Assert.Equal(3, p.CpuSeconds.Count);
        Assert.InRange(p.LearnerJitSeconds, 0, p.CpuSeconds[0] + 0.1);   // the JIT runs on the learner node's CPU in the window (20 ms CPU-clock resolution)
        Assert.Equal(4, r.CeilingSamplers);
        Assert.False(r.CeilingReached);
    }
}
