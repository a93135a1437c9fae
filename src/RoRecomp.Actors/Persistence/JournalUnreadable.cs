namespace RoRecomp.Actors.Persistence;

/// <summary>
/// Published on the actor system's event stream (local only, never sent) when a persistent actor cannot recover from
/// its journal (a garbled or truncated <c>journal.db</c>, the database unreachable). The job that started the node ends
/// the run on it (<see cref="PersistenceHocon.CannotRead"/>): recovery would fail the same way on every restart.
/// </summary>
/// <param name="Actor">The persistent actor's name.</param>
/// <param name="Cause">Why recovery failed.</param>
public sealed record JournalUnreadable(string Actor, Exception Cause);
