using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RoRecomp.Settings;
using RoRecomp.Actors.Hosting;
using RoRecomp.Actors.Persistence;
using RoRecomp.Training.Runs;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.Tests.Serialization;
using RoRecomp.Core.Replay;

namespace RoRecomp.Actors.Tests.Hosting;

public sealed class HostingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-host-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task One_node_cluster_joins_itself_and_serves_the_replay_buffer_singleton()
    {
        var settings = SettingsLoader.Load(null, [$"run.run-dir={_dir}"]);
        var (hocon, runLock) = PersistenceHocon.Prepare(settings.Persistence, settings.Run.RunDir);
        using var _ = runLock;
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IHostApplicationLifetime, TestLifetime>();
        services.AddAkka("rorecomp", b => b.AddRoRecompActors(settings, hocon));
        await using var provider = services.BuildServiceProvider();
        var hosted = provider.GetServices<IHostedService>().ToList();
        foreach (var h in hosted)
            await h.StartAsync(CancellationToken.None);
        try
        {
            var registry = provider.GetRequiredService<IActorRegistry>();
            var buffer = await registry.GetAsync<ReplayBufferKey>();
            var ack = await buffer.Ask<ResponsesAccepted>(
                new StoreResponses([RoRecompSerializerTests.MakeResponse("h/0")]), TimeSpan.FromSeconds(20));
            Assert.Equal(new ResponsesAccepted(1, 0, 0), ack);
            var system = provider.GetRequiredService<ActorSystem>();
            Assert.Equal(Akka.Cluster.MemberStatus.Up, Akka.Cluster.Cluster.Get(system).SelfMember.Status);
            // The learner node decides who is downed (Akka's split-brain resolver downed the learner side in chaos runs).
            Assert.IsType<LearnerDowningProvider>(Akka.Cluster.Cluster.Get(system).DowningProvider);
            Assert.True(File.Exists(Path.Combine(_dir, PersistenceHocon.DefaultSqliteFile)));
        }
        finally
        {
            foreach (var h in Enumerable.Reverse(hosted))
                await h.StopAsync(CancellationToken.None);
        }
    }

    private sealed class TestLifetime : IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication()
        {
        }
    }
}
