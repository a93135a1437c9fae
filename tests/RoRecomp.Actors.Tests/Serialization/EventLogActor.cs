using Akka.Actor;
using Akka.Persistence;
using RoRecomp.Core.Coordination;

namespace RoRecomp.Actors.Tests.Serialization;

/// <summary>
/// A coordinator-like persistent actor for journal fixtures: journals every <see cref="CheckpointCommitted"/> it is told (replying
/// <c>"ok"</c> once durable) and answers <see cref="GetEvents"/> with every event it holds, recovered ones included.
/// </summary>
internal sealed class EventLogActor : ReceivePersistentActor
{
    private readonly List<object> _events = [];

    public EventLogActor(string persistenceId)
    {
        PersistenceId = persistenceId;
        Recover<CheckpointCommitted>(e => _events.Add(e));
        Command<GetEvents>(_ => Sender.Tell(_events.ToArray()));
        Command<CheckpointCommitted>(e => Persist(e, persisted =>
        {
            _events.Add(persisted);
            Sender.Tell("ok");
        }));
    }

    public override string PersistenceId { get; }

    public static Props Props(string persistenceId) => Akka.Actor.Props.Create(() => new EventLogActor(persistenceId));

    /// <summary>Ask for the events held.</summary>
    public sealed record GetEvents
    {
        public static readonly GetEvents Instance = new();
    }
}
