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

    [Theory]
    [InlineData(0)] // no relays: the learner uploads a copy per fetcher
    [InlineData(1)]
    public void Fan_out_run_caps_the_links_and_counts_the_learners_upload(int fanOut)
    {
        const long blob = 8L * 1024 * 1024;
        const long cap = 40_000_000; // 40 MB/s: a fetch takes >= 0.2 s

        var r = WeightsBenchmark.RunFanOut(blob, fetchers: 4, fanOut, cap, chunkBytes: 1024 * 1024);

        Assert.True(r.SingleFetchSeconds >= 0.8 * blob / cap, $"one fetch took {r.SingleFetchSeconds:N3} s: the cap is not in force");
        Assert.Equal(fanOut == 0 ? 4.0 : 1.0, r.LearnerUploadCopies);
        Assert.Equal(4, r.FetcherSeconds.Count);
        Assert.True(r.AllFetchRatio > 0);
    }
}
