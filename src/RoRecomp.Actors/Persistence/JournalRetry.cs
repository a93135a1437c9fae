using Akka.Actor;

namespace RoRecomp.Actors.Persistence;

/// <summary>A persistent actor's journal write failed (disk full, database down); the actor answers its sender with it.</summary>
public sealed class JournalWriteException(string message, Exception inner) : IOException(message, inner);

/// <summary>
/// Bounded retries with backoff for requests whose answer waits on a journal write (the replay buffer's stores and
/// draws): a full disk or a restarting database gets <see cref="Attempts"/> tries about a minute apart in all, then the
/// run stops with <see cref="PersistenceHocon.CannotWrite"/> instead of retrying for ever.
/// </summary>
public static class JournalRetry
{
    /// <summary>Tries in all (the first included).</summary>
    public const int Attempts = 6;

    /// <summary>The pause before try <paramref name="attempt"/> + 1: 1, 2, 4, 8, 16 s.</summary>
    public static TimeSpan Delay(int attempt) => TimeSpan.FromSeconds(Math.Min(16, 1 << Math.Clamp(attempt - 1, 0, 4)));

    /// <summary>Whether a failed request is worth another try: the journal failed to write, or the answer did not come in time.</summary>
    public static bool IsTransient(Exception e) => Unwrap(e) is JournalWriteException or AskTimeoutException or TaskCanceledException;

    /// <summary>The failure inside an <see cref="AggregateException"/> (a piped or awaited task's), else the failure itself.</summary>
    public static Exception Unwrap(Exception e) => e is AggregateException a && a.Flatten().InnerExceptions.Count == 1 ? a.Flatten().InnerExceptions[0] : e;

    /// <summary>
    /// Asks until answered, at most <see cref="Attempts"/> times with <see cref="Delay"/> between tries while the failure is
    /// transient; <paramref name="retrying"/> hears of each retry. Throws the last failure.
    /// </summary>
    public static async Task<T> AskAsync<T>(Func<Task<T>> ask, Action<int, Exception> retrying)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await ask();
            }
            catch (Exception e) when (attempt < Attempts && IsTransient(e))
            {
                retrying(attempt, e);
                await Task.Delay(Delay(attempt));
            }
        }
    }
}
