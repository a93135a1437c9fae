using Akka.Actor;
using Akka.Configuration;
using RoRecomp.Actors.Hosting;
using RoRecomp.Actors.Persistence;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.Runners;
using RoRecomp.Actors.Serialization;
using RoRecomp.Settings;

namespace RoRecomp.Actors.ReplayBuffer;

/// <summary>
/// Reads what a run's replay buffer holds from its journal (snapshot + events, the same recovery the run does), in a
/// short-lived actor system of its own: the ids, oldest first. For a run that is not running (the journal is not
/// locked; on SQLite another writer would be a second process on the same file).
/// </summary>
public static class ReplayBufferContents
{
    /// <summary>
    /// The buffer's ids of the run in <paramref name="runDir"/>, read with the run's saved settings (<c>run.conf</c>:
    /// provider, connection string, run id), or with <paramref name="sets"/> alone when the directory has none.
    /// </summary>
    public static async Task<string[]> ReadIdsAsync(string runDir, IReadOnlyList<string>? sets = null, TimeSpan? timeout = null)
    {
        runDir = Path.GetFullPath(runDir);
        var runConf = Path.Combine(runDir, TrainRunner.RunConfigFile);
        var overrides = new SettingsOverrides(null, [.. sets ?? [], $"run.run-dir={runDir}"]) { BaseFile = File.Exists(runConf) ? runConf : null };
        var settings = PersistenceHocon.SettleRunId(SettingsLoader.Load(overrides), runDir, fresh: false);
        var config = PersistenceHocon.Build(settings.Persistence, runDir).WithFallback(SerializationHocon.Config)
            .WithFallback(ConfigurationFactory.ParseString("akka.loglevel = WARNING"));
        var system = ActorSystem.Create("rorecomp-buffer-contents", config);
        try
        {
            var buffer = system.ActorOf(ReplayBufferActor.Props(PersistenceHocon.PersistenceId(RoRecompHostingExtensions.ReplayBufferName, settings),
                SettingsMapping.ReplayBuffer(settings), int.MaxValue, bodies: ResponseBodyStore.ForRun(settings, readOnly: true)));
            var stats = await buffer.Ask<BufferStats>(GetBufferStats.Instance, timeout ?? TimeSpan.FromSeconds(60));
            return [.. stats.Ids];
        }
        finally
        {
            await system.Terminate();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        }
    }
}
