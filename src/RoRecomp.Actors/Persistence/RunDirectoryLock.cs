using RoRecomp.Settings;

namespace RoRecomp.Actors.Persistence;

/// <summary>
/// An exclusive lock on a run directory (<c>&lt;run-dir&gt;/.lock</c>, opened with <see cref="FileShare.None"/>, which is
/// an OS file lock released when the process dies, even on kill -9). One process owns a run, and so its SQLite journal.
/// </summary>
public sealed class RunDirectoryLock : IDisposable
{
    /// <summary>Name of the lock file inside the run directory.</summary>
    public const string FileName = ".lock";

    private readonly FileStream _stream;

    private RunDirectoryLock(string directory, FileStream stream)
    {
        Directory = directory;
        _stream = stream;
    }

    /// <summary>Full path of the locked run directory.</summary>
    public string Directory { get; }

    /// <summary>Creates <paramref name="runDir"/> if needed, checks it is writable and locks it.</summary>
    /// <exception cref="SettingsException">The directory cannot be created or written, or another process holds it.</exception>
    public static RunDirectoryLock Acquire(string runDir)
    {
        var full = Path.GetFullPath(runDir);
        try
        {
            System.IO.Directory.CreateDirectory(full);
            var probe = Path.Combine(full, $".write-probe-{Environment.ProcessId}");
            File.WriteAllBytes(probe, [1]);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SettingsException($"run directory {full} is not writable ({e.Message}); set rorecomp.run.run-dir to a directory you can write", e);
        }

        var path = Path.Combine(full, FileName);
        try
        {
            var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            stream.SetLength(0);
            var pid = System.Text.Encoding.UTF8.GetBytes(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            stream.Write(pid);
            stream.Flush();
            return new RunDirectoryLock(full, stream);
        }
        catch (IOException e)
        {
            throw new SettingsException(
                $"run directory {full} is in use by another process (lock {path} is held); stop that run or choose another rorecomp.run.run-dir", e);
        }
    }

    /// <summary>Releases the lock.</summary>
    public void Dispose() => _stream.Dispose();
}
