namespace RoRecomp.Actors.Persistence;

/// <summary>
/// Published on the actor system's event stream (local only, never sent) when a persistent actor cannot recover from
/// its journal (a garbled or truncated <c>journal.db</c>, the database unreachable). The job that started the node ends
/// the run on it (<see cref="PersistenceHocon.CannotRead"/>): recovery would fail the same way on every restart.
/// </summary>
/// <param name="Actor">The persistent actor's name.</param>
/// <param name="Cause">Why recovery failed.</param>
public sealed record JournalUnreadable(string Actor, Exception Cause)
{
    /// <summary>
    /// Whether a recovery failure only says the journal could not be reached (a refused or broken connection, an error
    /// the database driver calls transient: PostgreSQL restarting or stopped), not that it is damaged: a recovery tried
    /// again once the database is back succeeds, so it is no reason to end the run (found by the chaos harness's
    /// <c>db</c> and <c>db-down</c> faults: the replay buffer, restarted after a failed write, tried to recover while the
    /// database was still down, and the run ended with "cannot be read ... If it is damaged, restore a copy").
    /// </summary>
    public static bool IsUnreachable(Exception cause)
    {
        for (var e = cause; e is not null; e = e.InnerException)
        {
            if (e is System.Net.Sockets.SocketException or System.Data.Common.DbException { IsTransient: true }) return true;
            if (e is AggregateException a && a.InnerExceptions.Any(IsUnreachable)) return true;
        }
        return false;
    }
}
