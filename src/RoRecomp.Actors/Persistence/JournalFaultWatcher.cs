using Akka.Actor;
using RoRecomp.Settings;
using RoRecomp.Training.Runs;

namespace RoRecomp.Actors.Persistence;

/// <summary>
/// Ends the run when a persistent actor of this node cannot recover from the journal (<see cref="JournalUnreadable"/>
/// on the event stream): the reporter fails the run with <see cref="PersistenceHocon.CannotRead"/>, which names the
/// journal and what to do, instead of the run waiting for an actor that will never start.
/// </summary>
public sealed class JournalFaultWatcher : ReceiveActor
{
    /// <summary>Creates the watcher; use <see cref="Props"/>.</summary>
    public JournalFaultWatcher(RoRecompSettings settings, IRunReporter reporter)
    {
        Receive<JournalUnreadable>(m => reporter.Failed(PersistenceHocon.CannotRead(settings, m.Actor, m.Cause)));
    }

    /// <summary>Props of the watcher for the run with <paramref name="settings"/>, failing it through <paramref name="reporter"/>.</summary>
    public static Props Props(RoRecompSettings settings, IRunReporter reporter) =>
        Akka.Actor.Props.Create(() => new JournalFaultWatcher(settings, reporter));

    /// <inheritdoc />
    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(JournalUnreadable));
}
