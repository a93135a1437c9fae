using RoRecomp.Settings;

namespace RoRecomp.Settings.Tests;

/// <summary>Config input a careless or hostile user may give, and the run fingerprint nodes compare (issue 14).</summary>
public sealed class HostileInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_config_file_over_1_MiB_is_refused_before_it_is_parsed()
    {
        var path = Path.Combine(_dir, "huge.conf");
        // Valid HOCON (a comment), so only the size can refuse it.
        File.WriteAllText(path, "# " + new string('x', (int)SettingsLoader.MaxConfigFileBytes) + "\nrorecomp.run.steps = 3\n");
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(path, []));
        Assert.Contains(path, e.Message);
        Assert.Contains("more than the 1,048,576", e.Message);

        File.WriteAllText(path, "rorecomp.run.steps = 3\n");
        Assert.Equal(3, SettingsLoader.Load(path, []).Run.Steps);
    }

    [Fact]
    public void A_binary_file_given_as_config_is_a_clear_error_not_a_crash()
    {
        var path = Path.Combine(_dir, "garbage.conf");
        var bytes = new byte[4096];
        new Random(7).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(path, []));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Join_timeout_defaults_to_120_s_and_0_means_forever()
    {
        Assert.Equal(120, SettingsLoader.Load(null, []).Cluster.JoinTimeoutSeconds);
        Assert.Equal(0, SettingsLoader.Load(null, ["cluster.join-timeout=0"]).Cluster.JoinTimeoutSeconds);
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, ["cluster.join-timeout=-1"]));
        Assert.Contains("rorecomp.cluster.join-timeout", e.Message);
    }

    [Fact]
    public void The_fingerprint_ignores_where_a_node_runs_and_names_the_keys_that_differ()
    {
        var learner = SettingsLoader.Load(null, ["run.steps=40", "cluster.roles=[learner, buffer]", "run.run-dir=/a", "sampling.samplers=1"]);
        var sampler = SettingsLoader.Load(null, ["cluster.roles=[sampler]", "cluster.port=4100", "run.run-dir=/b", "sampling.samplers=3"]);
        Assert.Equal(learner.Fingerprint, sampler.Fingerprint);
        Assert.Empty(learner.Fingerprint!.Differences(sampler.Fingerprint!));

        var other = SettingsLoader.Load(null, ["sampling.temperature=0.7", "run.task=zero-rl"]);
        Assert.NotEqual(learner.Fingerprint!.Hash, other.Fingerprint!.Hash);
        Assert.Equal(
            ["run.task: learner \"thinking\", node \"zero-rl\"", "sampling.temperature: learner 1, node 0.7"],
            learner.Fingerprint.Differences(other.Fingerprint, "learner", "node"));
    }
}
