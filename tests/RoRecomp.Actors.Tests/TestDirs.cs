namespace RoRecomp.Actors.Tests;

/// <summary>Temporary run directories of the tests.</summary>
internal static class TestDirs
{
    /// <summary>Closes pooled SQLite connections to files in it, then deletes the directory (a file still closing is left to the OS).</summary>
    public static void Delete(string dir)
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
            // A journal file still closing; the OS temp dir is cleaned eventually.
        }
    }
}
