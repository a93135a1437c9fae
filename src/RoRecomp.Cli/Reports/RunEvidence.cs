using System.Globalization;
using RoRecomp.Training.Runs;

namespace RoRecomp.Cli.Reports;

/// <summary>What <see cref="RunEvidence.Copy"/> copied.</summary>
/// <param name="Files">Files copied (paths relative to the destination, '/'-separated, in copy order).</param>
/// <param name="Bytes">Their total size.</param>
/// <param name="Skipped">Run directories left out, each with why.</param>
public sealed record EvidenceCopy(IReadOnlyList<string> Files, long Bytes, IReadOnlyList<string> Skipped);

/// <summary>
/// The evidence of an experiment directory: the small text files a report is rebuilt from and a reader checks a run
/// with, copied into a results folder (<c>results/&lt;setting&gt;/runs/</c>) in the layout <see cref="ExperimentRuns"/> reads.
/// Copied: per <c>&lt;arm&gt;/seed-&lt;n&gt;/</c> its <c>metrics.jsonl</c>, <c>summary.json</c>, <c>run.conf</c> and
/// <c>eval-*.json</c>; per <c>warm-&lt;n&gt;/</c> its <c>sft-summary.json</c> (the warm start writes no metrics file);
/// <c>configs/*.conf</c> (each arm's layers as compare wrote them). Left behind: checkpoints (<c>checkpoints/</c>,
/// <c>sft/</c>), the journal (<c>journal.db*</c>), the TensorBoard event files (<c>tensorboard/</c>: binary, several
/// hundred KB for a long run, and every value in them is in <c>metrics.jsonl</c>), and the generated <c>report/</c>.
/// </summary>
public static class RunEvidence
{
    /// <summary>The folder of a results setting that holds its runs (<c>report --runs results/&lt;setting&gt;/runs</c>).</summary>
    public const string RunsFolder = "runs";

    /// <summary>The file patterns copied from a run directory.</summary>
    public static readonly IReadOnlyList<string> RunFilePatterns =
        [RunFiles.MetricsFile, RunFiles.SummaryFile, RunFiles.RunConfigFile, "eval-*.json"];

    /// <summary>The file patterns copied from a warm-start directory.</summary>
    public static readonly IReadOnlyList<string> WarmStartFilePatterns = [RunFiles.SftSummaryFile, RunFiles.MetricsFile];

    /// <summary>
    /// Copies the evidence of <paramref name="runsDir"/> into <paramref name="destination"/> (created; files there are
    /// replaced, others left as they are). A run directory without <c>metrics.jsonl</c> is skipped (the report leaves it
    /// out too). Throws <see cref="ReportException"/> when the source is missing or the two are the same folder.
    /// </summary>
    public static EvidenceCopy Copy(string runsDir, string destination)
    {
        var source = Path.GetFullPath(runsDir);
        var dest = Path.GetFullPath(destination);
        if (!Directory.Exists(source)) throw new ReportException($"--runs {source}: no such directory");
        if (IsWithin(dest, source) || IsWithin(source, dest))
            throw new ReportException($"--copy-evidence: {dest} and --runs {source} overlap; copy into a folder outside the runs (e.g. --out results/<setting>)");
        var files = new List<string>();
        var skipped = new List<string>();
        long bytes = 0;
        foreach (var dir in Directory.GetDirectories(source).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(dir);
            if (IsNumbered(name, "warm-"))
            {
                CopyMatching(dir, name, WarmStartFilePatterns);
                continue;
            }
            if (name == "configs")
            {
                CopyMatching(dir, name, ["*.conf"]);
                continue;
            }
            foreach (var seedDir in Directory.GetDirectories(dir, "seed-*").Order(StringComparer.Ordinal))
            {
                var rel = name + "/" + Path.GetFileName(seedDir);
                if (!IsNumbered(Path.GetFileName(seedDir), "seed-")) skipped.Add($"{rel}: not seed-<integer>");
                else if (!File.Exists(RunFiles.PathOf(seedDir, RunFiles.MetricsFile))) skipped.Add($"{rel}: no {RunFiles.MetricsFile}");
                else CopyMatching(seedDir, rel, RunFilePatterns);
            }
        }
        return new EvidenceCopy(files, bytes, skipped);

        void CopyMatching(string from, string rel, IEnumerable<string> patterns)
        {
            foreach (var file in patterns.SelectMany(p => Directory.GetFiles(from, p)).Distinct().Order(StringComparer.Ordinal))
            {
                var relFile = rel + "/" + Path.GetFileName(file);
                var to = Path.Combine(dest, relFile);
                Directory.CreateDirectory(Path.GetDirectoryName(to)!);
                File.Copy(file, to, overwrite: true);
                files.Add(relFile);
                bytes += new FileInfo(to).Length;
            }
        }
    }

    private static bool IsNumbered(string name, string prefix) =>
        name.StartsWith(prefix, StringComparison.Ordinal)
        && int.TryParse(name[prefix.Length..], NumberStyles.Integer, CultureInfo.InvariantCulture, out _);

    private static bool IsWithin(string path, string folder) =>
        path == folder || path.StartsWith(folder.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal);
}
