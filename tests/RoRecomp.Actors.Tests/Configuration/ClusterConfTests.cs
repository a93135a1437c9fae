using RoRecomp.Settings;
using RoRecomp.Actors.Persistence;
using RoRecomp.Training.Runs;

namespace RoRecomp.Actors.Tests.Configuration;

/// <summary>hocon/cluster.conf (the multi-node example) and its copy in deploy/k8s/configmap.yaml load as the nodes load them.</summary>
public sealed class ClusterConfTests
{
    private static readonly string Root = FindRoot();
    private static readonly string ClusterConf = Path.Combine(Root, "hocon", "cluster.conf");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RoRecomp.Actors.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException($"no RoRecomp.Actors.sln above {AppContext.BaseDirectory}");
    }

    [Fact]
    public void Cluster_conf_passes_the_loader_and_selects_postgresql_without_a_password()
    {
        var s = SettingsLoader.Load(ClusterConf, []);
        Assert.Equal("postgresql", s.Persistence.Provider);
        Assert.Contains("Host=rorecomp-postgres", s.Persistence.ConnectionString);
        Assert.DoesNotContain("Password", s.Persistence.ConnectionString, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(4053, s.Cluster.Port);
        Assert.Equal("127.0.0.1", s.Cluster.Hostname); // per node, from --hostname: the file leaves the default
        Assert.Empty(s.Cluster.SeedNodes);
        Assert.Equal("PostgreSQL.15", PersistenceHocon.Build(s.Persistence, s.Run.RunDir).GetString("akka.persistence.journal.sql.provider-name"));
    }

    [Fact]
    public void Cluster_conf_carries_the_akka_remote_frame_size_and_leaves_the_downing_to_the_learner_node()
    {
        var config = SettingsLoader.Resolve(new SettingsOverrides(ClusterConf)).Akka;
        Assert.Equal(16L * 1024 * 1024, config.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size"));
        // A downing provider or strategy here would replace LearnerDowningProvider on every node.
        Assert.False(config.HasPath("akka.cluster.downing-provider-class"));
        Assert.False(config.HasPath("akka.cluster.split-brain-resolver"));
    }

    [Fact]
    public void A_connection_string_given_with_set_replaces_the_files_one()
    {
        // deploy/README.md, bare machines: --set persistence.connection-string=... over --config hocon/cluster.conf.
        const string conn = "Host=10.0.0.5;Port=5432;Username=rorecomp;Database=rorecomp";
        var s = SettingsLoader.Load(ClusterConf, [$"persistence.connection-string={conn}", "cluster.hostname=10.0.0.1"]);
        Assert.Equal(conn, s.Persistence.ConnectionString);
        Assert.Equal("10.0.0.1", s.Cluster.Hostname);
    }

    [Fact]
    public void The_kubernetes_config_map_holds_cluster_conf_verbatim()
    {
        var lines = File.ReadAllLines(Path.Combine(Root, "deploy", "k8s", "configmap.yaml"));
        var start = Array.IndexOf(lines, "  cluster.conf: |");
        Assert.True(start >= 0, "configmap.yaml has no 'cluster.conf: |' block");
        var embedded = lines.Skip(start + 1).Select(l => l.Length == 0 ? l : l.StartsWith("    ", StringComparison.Ordinal) ? l[4..] : throw new InvalidDataException($"line outside the block: {l}"));
        Assert.Equal(File.ReadAllLines(ClusterConf), embedded.ToArray());
    }
}
