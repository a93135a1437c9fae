namespace RoRecomp.Training.Runs;

/// <summary>Files written so that a crash leaves either the old content or the new, never half of it.</summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="text"/> to a temp file beside <paramref name="path"/>, then renames it over the target.</summary>
    public static void WriteAllText(string path, string text)
    {
        var temp = path + $".tmp-{Environment.ProcessId}";
        File.WriteAllText(temp, text);
        File.Move(temp, path, overwrite: true);
    }
}
