using RoRecomp.Settings;
using RoRecomp.Actors.Bench;
using RoRecomp.Actors.Tests.Pipeline;

namespace RoRecomp.Actors.Tests.Bench;

public sealed class PipelineBenchmarkTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-bench-pipeline-").FullName;

    public void Dispose() => TestDirs.Delete(_dir);

    [Fact]
    public async Task Loop_and_actors_write_the_same_step_metrics_and_every_side_is_timed()
    {
        var warm = PipelineFixture.WarmStart(Path.Combine(_dir, "warm"));
        // The fixture's micro run: 4 prompts x 4 samples in leases of 2, compensation batches of 6.
        var sets = PipelineFixture.Sets(Path.Combine(_dir, "ignored"), warm);
        var r = await PipelineBenchmark.RunAsync(new PipelineBenchmarkOptions(new SettingsOverrides(null, sets), Steps: 2, Warmup: false), Path.Combine(_dir, "bench"));

        Assert.True(r.MetricsMatch, string.Join("\n", r.Mismatches));
        Assert.Contains("loss", r.ComparedKeys);
        Assert.Contains("buffer_size", r.ComparedKeys);
        Assert.Equal(warm, r.WarmStart);
        Assert.Equal((4, 4), (r.PromptsPerStep, r.SamplesPerPrompt));
        Assert.NotNull(r.AsyncActors);
        foreach (var side in new[] { r.Loop, r.Actors, r.AsyncActors! })
        {
            Assert.Equal([1L, 2], side.Steps.Select(s => s.Step));
            Assert.All(side.Steps, s => Assert.True(s.Seconds > 0, $"{side.Name} step {s.Step}: {s.Seconds} s"));
            Assert.Equal(side.Steps.Sum(s => s.Seconds), side.TotalSeconds, 9);
        }
        // Every response of a step is trained now (priority) or buffered: the buffer grows by the rest, less what was drawn.
        var buffered = 0;
        foreach (var s in r.Loop.Steps)
        {
            Assert.Contains(s.CompensationSize, new[] { 0, 6 });
            buffered += 16 - s.PrioritySize - s.CompensationSize;
            Assert.Equal(buffered, s.BufferSize);
        }
        Assert.Contains(r.Loop.Steps, s => s.CompensationSize == 6);   // the compensation path ran and was compared too
        Assert.All(r.Actors.Steps, s => Assert.Equal(0, s.PolicyLag));
        Assert.Equal(1, r.AsyncActors!.Steps[1].PolicyLag);   // step 2 was sampled with the warm start while step 1 trained
        Assert.True(double.IsFinite(r.OverheadPercent) && double.IsFinite(r.AsyncOverheadPercent));
        Assert.True(File.Exists(Path.Combine(_dir, "bench", "actors", "metrics.jsonl")));
    }
}
