using RoRecomp.Core.Metrics;
using RoRecomp.Core.Recomposition;
using RoRecomp.Core.Schedules;

namespace RoRecomp.Core.Tests;

public class CompensationScheduleTests
{
    [Theory]
    [InlineData(WeightSchedule.Constant, 1.0, 1.0, 1.0)]
    [InlineData(WeightSchedule.Linear, 1.0, 0.5, 0.0)]
    [InlineData(WeightSchedule.Cosine, 1.0, 0.5, 0.0)]
    public void Weight_at_start_middle_end(WeightSchedule schedule, double start, double middle, double end)
    {
        var s = new CompensationSchedule(Schedule: schedule, WeightStart: 1.0, WeightEnd: 0.0);
        Assert.Equal(start, s.Weight(0, 100), 9);
        Assert.Equal(middle, s.Weight(50, 100), 9);
        Assert.Equal(end, s.Weight(100, 100), 9);
        Assert.Equal(end, s.Weight(150, 100), 9); // clamped past the end
    }

    [Fact]
    public void Cosine_stays_above_linear_in_the_first_half()
    {
        var cos = new CompensationSchedule(Schedule: WeightSchedule.Cosine, WeightStart: 1, WeightEnd: 0);
        var lin = cos with { Schedule = WeightSchedule.Linear };
        Assert.True(cos.Weight(25, 100) > lin.Weight(25, 100));
    }

    [Fact]
    public void Draws_every_n_steps_when_a_full_batch_is_held()
    {
        var s = new CompensationSchedule(Every: 2, BatchSize: 10);
        Assert.False(s.ShouldDraw(1, 100));
        Assert.True(s.ShouldDraw(2, 10));
        Assert.False(s.ShouldDraw(2, 9));
        Assert.False((s with { Enabled = false }).ShouldDraw(2, 100));
        Assert.Throws<ArgumentException>(() => new CompensationSchedule(Every: 0).Validate());
    }

    [Fact]
    public void Step_metrics_aggregate_without_nan()
    {
        var online = Gen.Batch(4, b: 2, g: 4);
        var rec = Recomposer.Recompose(online, RecompositionOptions.Default, 4);
        var m = StepMetrics.From(3, 2, online, rec, 5, 17);
        var all = online.SelectMany(g => g.Responses).ToList();
        Assert.Equal(8, m.Responses);
        Assert.Equal(all.Count(r => r.Correct) / 8.0, m.Accuracy);
        Assert.Equal(all.Average(r => r.Length), m.MeanLength);
        Assert.Equal(rec.Priority.Count, m.PrioritySize);
        Assert.Equal(17, m.BufferSize);
        var empty = StepMetrics.From(1, 0, [], Recomposer.Recompose([], RecompositionOptions.Default, 1), 0, 0);
        Assert.Equal(0, empty.Accuracy);
        Assert.Equal(0, empty.MeanLengthCorrect);
    }
}
