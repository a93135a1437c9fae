

namespace RoRecomp.Weights.Tests;

public sealed class WeightsBenchmarkTests
{
    [Fact]
    public void Small_run_fetches_the_blob_each_time()
    {
        var r = WeightsBenchmark.Run(4 * 1024 * 1024 + 7, repeat: 2);

        Assert.Equal(2, r.FetchSeconds.Count);
        Assert.All(r.GbPerSecond, g => Assert.True(g > 0));
        Assert.True(r.BestGbPerSecond >= r.MedianGbPerSecond);
        Assert.Equal(4 * 1024 * 1024 + 7, r.BlobBytes);
    }
}
