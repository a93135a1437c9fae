using System.Collections.Concurrent;
using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Sql.Journal;
using RoRecomp.Core.Replay;

namespace RoRecomp.Actors.Tests.ReplayBuffer;

/// <summary>
/// The SQL journal, holding every write that carries a <see cref="ResponsesStored"/> (or its form with the bodies kept
/// apart, <see cref="RoRecomp.Actors.Protocols.ResponsesStoredApart"/>) until the
/// test lets it through (<see cref="HeldWrites.Release"/>), as a slow write of a large store would. Other writes (draws,
/// evictions) go straight through. The gate is named by <c>hold-id</c> in the plugin's HOCON.
/// </summary>
public sealed class HeldSqlJournal(Config config) : SqlWriteJournal(config)
{
    private readonly HeldWrites _gate = HeldWrites.Named(config.GetString("hold-id"));

    /// <inheritdoc />
    protected override Task<IImmutableList<Exception>> WriteMessagesAsync(IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken)
    {
        var writes = messages.ToList();
        if (!writes.Any(w => ((IEnumerable<IPersistentRepresentation>)w.Payload).Any(p => p.Payload is ResponsesStored or RoRecomp.Actors.Protocols.ResponsesStoredApart)))
            return base.WriteMessagesAsync(writes, cancellationToken);
        // The SQL journal must start its write inside the journal actor: once the gate opens, the write comes back as a message.
        var written = new TaskCompletionSource<IImmutableList<Exception>>(TaskCreationOptions.RunContinuationsAsynchronously);
        var self = Self;
        _ = _gate.PassAsync().ContinueWith(_ => self.Tell(new Released(writes, cancellationToken, written), ActorRefs.NoSender), TaskScheduler.Default);
        return written.Task;
    }

    /// <inheritdoc />
    protected override bool ReceivePluginInternal(object message)
    {
        if (message is not Released released) return base.ReceivePluginInternal(message);
        base.WriteMessagesAsync(released.Writes, released.CancellationToken).ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully) released.Written.SetResult(t.Result);
            else released.Written.SetException(t.Exception?.InnerExceptions ?? [new TaskCanceledException()]);
        }, TaskScheduler.Default);
        return true;
    }

    private sealed record Released(List<AtomicWrite> Writes, CancellationToken CancellationToken, TaskCompletionSource<IImmutableList<Exception>> Written);
}

/// <summary>The gate of a <see cref="HeldSqlJournal"/>: counts the store writes waiting and lets them through one at a time.</summary>
public sealed class HeldWrites
{
    private static readonly ConcurrentDictionary<string, HeldWrites> Gates = new();
    private readonly SemaphoreSlim _permits = new(0);
    private int _waiting;
    private int _passed;

    /// <summary>The gate called <paramref name="id"/>.</summary>
    public static HeldWrites Named(string id) => Gates.GetOrAdd(id, _ => new HeldWrites());

    /// <summary>HOCON that puts the holding journal in place, to layer over the SQL persistence HOCON.</summary>
    public static Config Config(string id) => ConfigurationFactory.ParseString($$"""
        akka.persistence.journal.sql {
          class = "{{typeof(HeldSqlJournal).AssemblyQualifiedName}}"
          hold-id = "{{id}}"
        }
        """);

    /// <summary>Store writes waiting at the gate now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Store writes let through so far (a write waiting at the gate means the ones before it are durable).</summary>
    public int Passed => Volatile.Read(ref _passed);

    /// <summary>Lets <paramref name="writes"/> store writes through.</summary>
    public void Release(int writes = 1) => _permits.Release(writes);

    internal async Task PassAsync()
    {
        Interlocked.Increment(ref _waiting);
        await _permits.WaitAsync();
        Interlocked.Increment(ref _passed);
        Interlocked.Decrement(ref _waiting);
    }
}
