using System.Collections.Concurrent;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Sql.Journal;
using Akka.Persistence.Sql.Snapshot;

namespace RoRecomp.Actors.Tests.ReplayBuffer;

/// <summary>A point of the replay buffer's compaction cycle (snapshot save, event delete, old-snapshot delete) where a process can die.</summary>
public enum CrashPoint
{
    /// <summary>The snapshot write never completes (the process died while writing it).</summary>
    DuringSnapshotSave,

    /// <summary>The snapshot is durable; the event delete never starts.</summary>
    AfterSnapshotSave,

    /// <summary>The snapshot is durable; the events up to half its sequence number are deleted, the rest never are.</summary>
    MidEventDelete,

    /// <summary>The snapshot is durable and the events up to it deleted; the old snapshots' delete never starts.</summary>
    AfterEventDelete,
}

/// <summary>
/// The SQL journal and snapshot store, stopping for good at one <see cref="CrashPoint"/> (configured as
/// <c>crash-at</c> and <c>crash-id</c> in the plugin's HOCON): the test then terminates the actor system, which
/// leaves the database as a process killed at that point would. <see cref="Reached"/> completes when it gets there.
/// </summary>
internal static class CrashingSqlPlugins
{
    private static readonly ConcurrentDictionary<string, TaskCompletionSource<long>> Signals = new();

    /// <summary>Completes with the snapshot's sequence number once crash <paramref name="crashId"/> has been reached.</summary>
    public static Task<long> Reached(string crashId) => Signal(crashId).Task;

    /// <summary>HOCON that puts both plugins in place, to layer over the SQL persistence HOCON.</summary>
    public static Config Config(CrashPoint point, string crashId) => ConfigurationFactory.ParseString($$"""
        akka.persistence.journal.sql {
          class = "{{typeof(CrashingSqlJournal).AssemblyQualifiedName}}"
          crash-at = {{point}}
          crash-id = "{{crashId}}"
        }
        akka.persistence.snapshot-store.sql {
          class = "{{typeof(CrashingSqlSnapshotStore).AssemblyQualifiedName}}"
          crash-at = {{point}}
          crash-id = "{{crashId}}"
        }
        """);

    internal static Task<T> Stop<T>(string crashId, long sequenceNr)
    {
        Signal(crashId).TrySetResult(sequenceNr);
        return new TaskCompletionSource<T>().Task; // never completes: the process is "dead" from here on
    }

    internal static CrashPoint Point(Config config) => Enum.Parse<CrashPoint>(config.GetString("crash-at"));

    private static TaskCompletionSource<long> Signal(string crashId) =>
        Signals.GetOrAdd(crashId, _ => new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously));
}

/// <summary>The SQL journal, stopping at <see cref="CrashPoint.AfterSnapshotSave"/> or <see cref="CrashPoint.MidEventDelete"/>.</summary>
public sealed class CrashingSqlJournal(Config config) : SqlWriteJournal(config)
{
    private readonly CrashPoint _point = CrashingSqlPlugins.Point(config);
    private readonly string _crashId = config.GetString("crash-id");

    /// <inheritdoc />
    protected override async Task DeleteMessagesToAsync(string persistenceId, long toSequenceNr, CancellationToken cancellationToken)
    {
        switch (_point)
        {
            case CrashPoint.AfterSnapshotSave:
                await CrashingSqlPlugins.Stop<bool>(_crashId, toSequenceNr);
                break;
            case CrashPoint.MidEventDelete:
                await base.DeleteMessagesToAsync(persistenceId, toSequenceNr / 2, cancellationToken);
                await CrashingSqlPlugins.Stop<bool>(_crashId, toSequenceNr);
                break;
            default:
                await base.DeleteMessagesToAsync(persistenceId, toSequenceNr, cancellationToken);
                break;
        }
    }
}

/// <summary>The SQL snapshot store, stopping at <see cref="CrashPoint.DuringSnapshotSave"/> or <see cref="CrashPoint.AfterEventDelete"/>.</summary>
public sealed class CrashingSqlSnapshotStore(Config config) : SqlSnapshotStore(config)
{
    private readonly CrashPoint _point = CrashingSqlPlugins.Point(config);
    private readonly string _crashId = config.GetString("crash-id");

    /// <inheritdoc />
    protected override Task SaveAsync(SnapshotMetadata metadata, object snapshot, CancellationToken cancellationToken) =>
        _point == CrashPoint.DuringSnapshotSave
            ? CrashingSqlPlugins.Stop<bool>(_crashId, metadata.SequenceNr)
            : base.SaveAsync(metadata, snapshot, cancellationToken);

    /// <inheritdoc />
    protected override Task DeleteAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken) =>
        _point == CrashPoint.AfterEventDelete
            ? CrashingSqlPlugins.Stop<bool>(_crashId, criteria.MaxSequenceNr + 1)
            : base.DeleteAsync(persistenceId, criteria, cancellationToken);
}
