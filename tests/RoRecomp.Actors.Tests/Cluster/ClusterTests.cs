using RoRecomp.Settings;
using System.Text.Json.Nodes;
using RoRecomp.Actors.Coordination;
using RoRecomp.Training.Runs;
using RoRecomp.Actors.Protocols;
using RoRecomp.Training;
using RoRecomp.Actors.Runners;
using RoRecomp.Actors.Hosting;
using RoRecomp.Actors.Tests.Persistence;
using RoRecomp.Actors.Tests.Pipeline;
using RoRecomp.Cli.Processes;

namespace RoRecomp.Actors.Tests.Cluster;

/// <summary>Several `rorecomp` processes on 127.0.0.1: a learner node (`train --cluster`) and sampler nodes (`node`).</summary>
public sealed class ClusterTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(4);
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-cluster-").FullName;
    private readonly string _warm;
    private readonly List<NodeProcess> _processes = [];

    public ClusterTests() => _warm = PipelineFixture.WarmStart(Path.Combine(_dir, "warm"));

    public void Dispose()
    {
        foreach (var p in _processes) p.Dispose();
        TestDirs.Delete(_dir);
    }

    private readonly List<string> _extra = [];

    private List<string> Sets(string runDir) =>
        PipelineFixture.Sets(runDir, _warm, ["run.eval-every=0", "checkpoint.every=2", "cluster.stable-after=2", "run.lease-timeout=20", .. _extra]);

    private NodeProcess Learner(string runDir, int port, int steps, bool resume = false)
    {
        var args = new List<string> { "train", "--cluster", "--port", $"{port}", "--hostname", "127.0.0.1", "--steps", $"{steps}" };
        if (resume) args.Add("--resume");
        var p = NodeProcess.Start("learner", [.. args, .. NodeProcess.SetArgs(Sets(runDir))]);
        _processes.Add(p);
        return p;
    }

    private NodeProcess Sampler(string name, string runDir, int port)
    {
        var p = NodeProcess.Start(name, [
            "node", "--roles", "sampler,verifier", "--seed", TrainRunner.SeedAddress("127.0.0.1", port), "--hostname", "127.0.0.1",
            .. NodeProcess.SetArgs(Sets(runDir))]);
        _processes.Add(p);
        return p;
    }

    private static int Steps(string runDir)
    {
        var path = Path.Combine(runDir, RunFiles.MetricsFile);
        return File.Exists(path) ? File.ReadAllLines(path).Length : 0;
    }

    internal static async Task Until(Func<bool> condition, string what, params NodeProcess[] show)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"timed out waiting until {what}\n" + string.Join("\n", show.Select(p => $"--- {p.Name}:\n{Tail(p.Output)}")));
            await Task.Delay(50);
        }
    }

    internal static string Tail(string s) => s.Length > 4000 ? s[^4000..] : s;

    /// <summary>Each step once, in order, with the data cursor moving by one step's prompts: no prompt lost or counted twice.</summary>
    private static void AssertEveryStepOnce(string runDir, int steps)
    {
        var lines = File.ReadAllLines(Path.Combine(runDir, RunFiles.MetricsFile)).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(Enumerable.Range(1, steps).Select(i => (long)i), lines.Select(l => l["step"]!.GetValue<long>()));
        Assert.Equal(Enumerable.Range(1, steps).Select(i => 4L * i), lines.Select(l => l["cursor"]!.GetValue<long>()));
        Assert.All(lines, l => Assert.Equal(16, l["responses"]!.GetValue<int>()));
    }

    [Fact]
    public async Task Samplers_join_mid_run_and_one_killed_with_sigkill_loses_no_prompt()
    {
        const int steps = 60;
        var run = Path.Combine(_dir, "run");
        var port = NodeProcess.FreePort();
        var learner = Learner(run, port, steps);
        var a = Sampler("sampler-a", run, port);
        await Until(() => Steps(run) >= 3, "the run is at step 3 with one sampler", learner, a);

        var b = Sampler("sampler-b", run, port);
        await Until(() => b.Output.Contains(": lease s", StringComparison.Ordinal), "the sampler added mid-run samples a lease", learner, b);
        Assert.Contains("(2 now)", learner.Output);
        Assert.Contains("fetched from 127.0.0.1:", b.Output);   // weights came over the learner's weight server, not remoting

        a.Kill();
        Assert.True(Steps(run) < steps, "the run finished before the sampler could be killed: raise the step count");
        Assert.True(await learner.WaitForExitAsync(Patience), "the run did not finish after a sampler was killed\n" + Tail(learner.Output));
        Assert.Equal(0, learner.ExitCode);
        Assert.Contains("sampler left", learner.Output);
        AssertEveryStepOnce(run, steps);

        // max-policy-lag = 0: whichever sampler sampled a lease (and a lease re-issued after the kill), the run is the
        // single-node run with the same seed, step for step.
        var single = Path.Combine(_dir, "single");
        await TrainRunner.RunAsync(new TrainOptions(new SettingsOverrides(null, Sets(single)) { Steps = steps }), TextWriter.Null, false, CancellationToken.None);
        foreach (var key in new[] { "accuracy", "mean_length", "priority_size", "compensation_size", "loss" })
            Assert.Equal(Column(single, key), Column(run, key));
    }

    private static IEnumerable<string> Column(string runDir, string key) =>
        File.ReadAllLines(Path.Combine(runDir, RunFiles.MetricsFile)).Select(l => JsonNode.Parse(l)![key]!.ToJsonString());

    [Fact]
    public Task The_learner_killed_with_sigkill_and_restarted_resumes_and_its_samplers_rejoin() => LearnerCrash();

    [PostgresFact]
    public Task The_same_learner_crash_with_the_journal_on_postgresql()
    {
        _extra.AddRange(["persistence.provider=postgresql", $"persistence.connection-string={PostgresFactAttribute.ConnectionString}",
            $"persistence.run-id=cluster-test-{Guid.NewGuid():N}"]);
        return LearnerCrash();
    }

    private async Task LearnerCrash()
    {
        const int steps = 40;
        var run = Path.Combine(_dir, "run");
        var port = NodeProcess.FreePort();
        var learner = Learner(run, port, steps);
        var a = Sampler("sampler-a", run, port);
        await Until(() => Steps(run) >= 6, "the run is at step 6", learner, a);
        learner.Kill();
        var atKill = Steps(run);
        Assert.InRange(atKill, 6, steps - 1);

        var restarted = Learner(run, port, steps, resume: true);
        Assert.True(await restarted.WaitForExitAsync(Patience), "the resumed run did not finish\n" + Tail(restarted.Output) + "\n--- sampler:\n" + Tail(a.Output));
        Assert.Equal(0, restarted.ExitCode);
        Assert.Contains("resuming from step", restarted.Output);
        Assert.Contains("rejoining", a.Output);   // the sampler lost the dead learner, rejoined and worked for the new one
        AssertEveryStepOnce(run, steps);
    }
}
