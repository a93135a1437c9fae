using System.Text.Json;
using RoRecomp.Cli.Reports;
using RoRecomp.Model.Tests;

namespace RoRecomp.Actors.Tests.Experiments;

/// <summary>
/// Every committed report rebuilds: <c>report --runs &lt;setting&gt;/runs [--at-step N]</c> over the committed run evidence
/// gives the committed <c>summary.json</c>, key for key, every number as written.
/// </summary>
public sealed class EvidenceRebuildTests : IDisposable
{
    /// <summary>
    /// The <c>results/&lt;setting&gt;/</c> folders that must rebuild. Add a setting when its evidence is committed
    /// (<c>rorecomp report --runs &lt;compare --out&gt; --out results/&lt;setting&gt; --copy-evidence [--at-step N]</c>); a listed
    /// setting without <c>runs/</c> fails.
    /// </summary>
    private static readonly string[] RebuiltSettings = ["agentic", "agentic-mixed", "thinking", "thinking-long", "zero-rl"];

    /// <summary>
    /// Synthetic settings under <c>Experiments/Evidence/</c> (runs made by its <c>make_runs.py</c>, summary.json and runs/ by
    /// <c>report --copy-evidence</c>, the first with <c>--at-step 4</c>): the mechanism is tested while no real setting is listed.
    /// </summary>
    private static readonly string[] Fixtures = ["at-step-4", "final"];

    private readonly string _tmp = Directory.CreateTempSubdirectory("rorecomp-evidence-").FullName;

    public void Dispose() => TestDirs.Delete(_tmp);

    private static string Results(string setting) => Path.Combine(TestAssets.RepoRoot(), "results", setting);

    private static string Fixture(string name) =>
        Path.Combine(TestAssets.RepoRoot(), "tests", "RoRecomp.Actors.Tests", "Experiments", "Evidence", name);

    public static TheoryData<string> Settings()
    {
        var data = new TheoryData<string>();
        foreach (var s in RebuiltSettings) data.Add(Path.Combine("results", s));
        foreach (var f in Fixtures) data.Add(Path.Combine("tests", "RoRecomp.Actors.Tests", "Experiments", "Evidence", f));
        return data;
    }

    [Theory]
    [MemberData(nameof(Settings))]
    public void The_committed_summary_rebuilds_from_the_committed_runs(string setting)
    {
        var problems = Rebuild(Path.Combine(TestAssets.RepoRoot(), setting), Path.Combine(_tmp, "out"));
        Assert.True(problems.Count == 0, $"{setting} does not rebuild:\n" + string.Join("\n", problems));
    }

    [Fact]
    public void Every_results_setting_with_runs_is_listed_to_rebuild()
    {
        var unlisted = Directory.GetDirectories(Path.Combine(TestAssets.RepoRoot(), "results"))
            .Where(d => File.Exists(Path.Combine(d, ExperimentReport.SummaryFile)) && Directory.Exists(Path.Combine(d, RunEvidence.RunsFolder)))
            .Select(Path.GetFileName)
            .Except(RebuiltSettings)
            .ToList();
        Assert.True(unlisted.Count == 0, $"results/{{{string.Join(", ", unlisted)}}} hold summary.json and runs/ but are not in {nameof(RebuiltSettings)}: add them");
    }

    [Fact]
    public void A_listed_setting_without_runs_fails_naming_it()
    {
        var setting = Path.Combine(_tmp, "thinking");
        Directory.CreateDirectory(setting);
        File.Copy(Path.Combine(Fixture("final"), ExperimentReport.SummaryFile), Path.Combine(setting, ExperimentReport.SummaryFile));
        var problems = Rebuild(setting, Path.Combine(_tmp, "out"));
        Assert.Contains(problems, p => p.Contains("thinking", StringComparison.Ordinal) && p.Contains("runs/ is not committed", StringComparison.Ordinal));
    }

    [Fact]
    public void A_changed_figure_in_the_runs_or_the_summary_is_found_by_its_key()
    {
        var setting = Path.Combine(_tmp, "at-step-4");
        CopyTree(Fixture("at-step-4"), setting);
        Assert.Empty(Rebuild(setting, Path.Combine(_tmp, "out0")));

        // One held-out length of the step-4 evaluation of rorecomp seed 2, changed in its metrics.jsonl.
        var metrics = Path.Combine(setting, "runs", "rorecomp", "seed-2", "metrics.jsonl");
        var lines = File.ReadAllLines(metrics);
        var i = Array.FindIndex(lines, l => l.StartsWith("{\"step\":4,", StringComparison.Ordinal));
        lines[i] = System.Text.RegularExpressions.Regex.Replace(lines[i], "\"eval_mean_length\":[0-9.]+", "\"eval_mean_length\":12.5");
        File.WriteAllLines(metrics, lines);
        var problems = Rebuild(setting, Path.Combine(_tmp, "out1"));
        Assert.Contains(problems, p => p.StartsWith("arms.rorecomp.seeds.2.final_mean_length:", StringComparison.Ordinal) && p.Contains("rebuilt 12.5", StringComparison.Ordinal));

        // The same number written differently (0 as 0.0) is a difference too: numbers are compared as written; so is a key too many.
        CopyTree(Fixture("final"), Path.Combine(_tmp, "final"));
        var summary = Path.Combine(_tmp, "final", ExperimentReport.SummaryFile);
        var text = new System.Text.RegularExpressions.Regex("\"final_tool_calls\": 0,").Replace(File.ReadAllText(summary), "\"final_tool_calls\": 0.0,", 1);
        File.WriteAllText(summary, text.Replace("\"reference_arm\": \"grpo\",", "\"reference_arm\": \"grpo\", \"extra\": 1,", StringComparison.Ordinal));
        Assert.Equal(
            ["arms.grpo.seeds.1.final_tool_calls: committed 0.0, rebuilt 0", "extra: only in the committed summary.json (1)"],
            Rebuild(Path.Combine(_tmp, "final"), Path.Combine(_tmp, "out2")).Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// The differences between <paramref name="setting"/>'s summary.json and the report rebuilt (into <paramref name="outDir"/>)
    /// from its runs/ at the summary's <c>at_step</c>: one line per key path, or why it cannot be rebuilt.
    /// </summary>
    private static List<string> Rebuild(string setting, string outDir)
    {
        var committedFile = Path.Combine(setting, ExperimentReport.SummaryFile);
        var runs = Path.Combine(setting, RunEvidence.RunsFolder);
        if (!File.Exists(committedFile)) return [$"{setting}: no {ExperimentReport.SummaryFile}"];
        if (!Directory.Exists(runs))
        {
            return [$"{setting}: runs/ is not committed: copy it with `rorecomp report --runs <the compare --out> --out {setting} --copy-evidence` " +
                "(with --at-step N if the table is taken at a step), or take the setting off the list"];
        }
        using var committed = JsonDocument.Parse(File.ReadAllText(committedFile));
        long? atStep = committed.RootElement.TryGetProperty(ExperimentReport.AtStepKey, out var n) ? n.GetInt64() : null;
        try
        {
            ExperimentReport.Write(runs, outDir, atStep);
        }
        catch (ReportException ex)
        {
            return [$"{setting}: report --runs runs{(atStep is null ? "" : $" --at-step {atStep}")} failed: {ex.Message}"];
        }
        using var rebuilt = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, ExperimentReport.SummaryFile)));
        var a = Leaves(committed.RootElement);
        var b = Leaves(rebuilt.RootElement);
        var problems = new List<string>();
        foreach (var (key, value) in a)
        {
            if (!b.TryGetValue(key, out var other)) problems.Add($"{key}: only in the committed summary.json ({value})");
            else if (other != value) problems.Add($"{key}: committed {value}, rebuilt {other}");
        }
        problems.AddRange(b.Keys.Except(a.Keys).Select(k => $"{k}: only in the rebuilt summary.json ({b[k]})"));
        return problems;
    }

    /// <summary>Every leaf as its key path (a.b.0.c) and its JSON text as written; empty objects and arrays are leaves too.</summary>
    private static Dictionary<string, string> Leaves(JsonElement root)
    {
        var leaves = new Dictionary<string, string>(StringComparer.Ordinal);
        Walk(root, "");
        return leaves;

        void Walk(JsonElement e, string path)
        {
            var prefix = path.Length == 0 ? "" : path + ".";
            switch (e.ValueKind)
            {
                case JsonValueKind.Object when e.EnumerateObject().Any():
                    foreach (var p in e.EnumerateObject()) Walk(p.Value, prefix + p.Name);
                    break;
                case JsonValueKind.Array when e.GetArrayLength() > 0:
                    var i = 0;
                    foreach (var x in e.EnumerateArray()) Walk(x, prefix + i++);
                    break;
                default:
                    leaves[path] = e.GetRawText();
                    break;
            }
        }
    }

    /// <summary>Copies every file under <paramref name="from"/> to the same place under <paramref name="to"/>.</summary>
    internal static void CopyTree(string from, string to)
    {
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
