using System.Runtime.InteropServices;
using System.Text;

namespace RoRecomp.Core.IO;

/// <summary>
/// Durable file writes: after a crash or power loss a file holds either its old content or its new, never half of it,
/// and a write that returned is on disk. Here (in Core) because every project that writes such files references Core:
/// Training's run files and Model's checkpoint store, and Model must not reference Training.
/// </summary>
public static class DurableFile
{
    /// <summary>The prefix of temp files (and <see cref="TempPath"/>'s names), so that a store can sweep leftovers of a crash.</summary>
    public const string TempPrefix = ".tmp-";

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Writes <paramref name="text"/> (UTF-8, no BOM) durably and atomically over <paramref name="path"/>; see <see cref="WriteAllBytes"/>.</summary>
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, Utf8.GetBytes(text));

    /// <summary>
    /// Writes <paramref name="bytes"/> to a temp file beside <paramref name="path"/>, flushes it to disk, renames it over
    /// the target and flushes the directory (so that the rename itself survives a power loss).
    /// </summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var full = Path.GetFullPath(path);
        var temp = TempPath(full);
        try
        {
            WriteNew(temp, bytes);
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
        SyncDirectory(Path.GetDirectoryName(full)!);
    }

    /// <summary>Creates <paramref name="path"/> (it must not exist), writes <paramref name="bytes"/> and flushes the file to disk.</summary>
    public static void WriteNew(string path, ReadOnlySpan<byte> bytes)
    {
        using var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        fs.Write(bytes);
        fs.Flush(flushToDisk: true);
    }

    /// <summary>
    /// Creates <paramref name="path"/> (it must not exist), lets <paramref name="write"/> stream its content (for files too
    /// large for one array) and flushes the file to disk.
    /// </summary>
    public static void WriteNew(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        using var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20);
        write(fs);
        fs.Flush(flushToDisk: true);
    }

    /// <summary>Appends <paramref name="text"/> (UTF-8, no BOM) to <paramref name="path"/>, creating it if needed, and flushes the file to disk.</summary>
    public static void AppendText(string path, string text)
    {
        using var fs = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        fs.Write(Utf8.GetBytes(text));
        fs.Flush(flushToDisk: true);
    }

    /// <summary>A fresh temp file name beside <paramref name="path"/> (in its directory, starting with <see cref="TempPrefix"/>).</summary>
    public static string TempPath(string path) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $"{TempPrefix}{Path.GetFileName(path)}-{Guid.NewGuid():N}");

    /// <summary>
    /// Flushes <paramref name="directory"/>'s entries (created, renamed, deleted files) to disk: on Linux, macOS and
    /// FreeBSD by opening the directory and fsync-ing it. Best effort: where that is impossible (Windows, where a
    /// directory cannot be opened this way, or a file system that refuses fsync on a directory) it does nothing.
    /// </summary>
    public static void SyncDirectory(string directory)
    {
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())) return;
        var fd = Posix.open(Utf8.GetBytes(Path.GetFullPath(directory) + "\0"), Posix.ReadOnly);
        if (fd < 0) return;
        try
        {
            _ = Posix.fsync(fd);
        }
        finally
        {
            _ = Posix.close(fd);
        }
    }

    /// <summary>The libc calls .NET has no API for: a <see cref="FileStream"/> cannot open a directory.</summary>
    private static class Posix
    {
        /// <summary>O_RDONLY (0 on every POSIX system .NET runs on).</summary>
        public const int ReadOnly = 0;

#pragma warning disable SYSLIB1054, CA5392 // DllImport with blittable arguments only (the path as NUL-terminated UTF-8 bytes): no unsafe code needed in Core.
        [DllImport("libc", SetLastError = true)]
        public static extern int open(byte[] path, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
#pragma warning restore SYSLIB1054, CA5392
    }
}
