using System.Globalization;

namespace RoRecomp.Cli.Chaos;

/// <summary>
/// The disturbed run's directory on a small tmpfs of the harness's own (as root), so that a <c>disk</c> fault can fill
/// it: <see cref="Fill"/> writes a ballast file until the file system reports it full (ENOSPC), so checkpoint writes,
/// <c>metrics.jsonl</c> and the SQLite journal fail; <see cref="Free"/> deletes the ballast. <see cref="Dispose"/> copies
/// the run's files off the tmpfs, unmounts it and puts them back in the same directory on the real disk (so the oracle
/// and the reader see them), also after a failure or Ctrl+C; the process-exit hook unmounts it too.
/// </summary>
public sealed class TmpfsRunDir : IDisposable
{
    /// <summary>The tmpfs size: room for the chaos runs' 3 kept checkpoints of the micro policy and their journal, several times over.</summary>
    public const int SizeMiB = 256;

    private const string BallastName = "chaos-disk-ballast";
    private readonly string _dir;
    private int _disposed;

    private TmpfsRunDir(string dir) => _dir = dir;

    /// <summary>Mounts a <see cref="SizeMiB"/> MiB tmpfs on <paramref name="dir"/> (created, must be empty); throws <see cref="InvalidOperationException"/> when not root or when <c>mount</c> fails.</summary>
    public static TmpfsRunDir Mount(string dir)
    {
        if (!HostCommand.IsRoot) throw new InvalidOperationException("mounting a tmpfs needs root");
        Directory.CreateDirectory(dir);
        HostCommand.Run("mount", ["-t", "tmpfs", "-o", $"size={SizeMiB.ToString(CultureInfo.InvariantCulture)}m,mode=0755", "rorecomp-chaos", dir]);
        var t = new TmpfsRunDir(dir);
        AppDomain.CurrentDomain.ProcessExit += t.OnExit;
        return t;
    }

    /// <summary>Bytes free on the tmpfs now.</summary>
    public long FreeBytes => new DriveInfo(_dir).AvailableFreeSpace;

    /// <summary>Writes the ballast until the file system is full (1 MiB, then 4 KiB writes until ENOSPC); returns its size in bytes.</summary>
    public long Fill()
    {
        var path = Path.Combine(_dir, BallastName);
        long written = 0;
        using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        foreach (var size in new[] { 1 << 20, 4096, 512 })
        {
            var chunk = new byte[size];
            Array.Fill(chunk, (byte)0xA5);
            try
            {
                while (true)
                {
                    stream.Write(chunk);
                    written += size;
                }
            }
            catch (IOException)
            {
                // ENOSPC: full at this granularity; go on with smaller writes.
            }
        }
        return written;
    }

    /// <summary>Deletes the ballast: the space is free again.</summary>
    public void Free() => File.Delete(Path.Combine(_dir, BallastName));

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        AppDomain.CurrentDomain.ProcessExit -= OnExit;
        string? keep = null;
        try
        {
            Free();
            keep = Directory.CreateTempSubdirectory("rorecomp-chaos-disk-").FullName;
            Copy(_dir, keep);
        }
        catch (IOException)
        {
            // the run's files stay where they are (lost with the unmount): the harness has judged them already
        }
        if (HostCommand.TryRun("umount", [_dir]) is not null) HostCommand.TryRun("umount", ["-l", _dir]);
        if (keep is null) return;
        try
        {
            Copy(keep, _dir);
        }
        finally
        {
            Directory.Delete(keep, recursive: true);
        }
    }

    private void OnExit(object? sender, EventArgs e) => Dispose();

    private static void Copy(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var d in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, d)));
        foreach (var f in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(f, Path.Combine(to, Path.GetRelativePath(from, f)), overwrite: true);
    }
}
