using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using RoRecomp.Actors.Coordination;
using RoRecomp.Training.Runs;
using RoRecomp.Actors.Protocols;

namespace RoRecomp.Cli.Reports;

/// <summary>The experiment directory is unusable (missing, or no run in it); the message says why.</summary>
public sealed class ReportException(string message) : Exception(message);

/// <summary>One (arm, seed) run directory as read back: its per-step metrics, warm-start baseline and final held-out figures.</summary>
/// <param name="Arm">Arm name (the directory above <c>seed-&lt;n&gt;</c>).</param>
/// <param name="Seed">The seed (from <c>seed-&lt;n&gt;</c>).</param>
/// <param name="Dir">The run directory.</param>
/// <param name="Metrics">metrics.jsonl, one object per step, in step order.</param>
/// <param name="Baseline">eval-baseline.json (the warm start, held out), or null.</param>
/// <param name="Finished">Whether summary.json is present.</param>
/// <param name="FinalAccuracy">Final held-out accuracy (summary.json, else the last evaluation in metrics.jsonl; NaN if none).</param>
/// <param name="FinalMeanLength">Final held-out mean length in tokens (as above).</param>
/// <param name="FinalToolCalls">Final held-out tool calls per response (as above).</param>
/// <param name="FinalStep">The step of the final evaluation (0 = the warm start; -1 = none).</param>
public sealed record SeedRun(
    string Arm, int Seed, string Dir, IReadOnlyList<JsonObject> Metrics, JsonObject? Baseline, bool Finished,
    double FinalAccuracy, double FinalMeanLength, double FinalToolCalls, long FinalStep)
{
    /// <summary>The last step in metrics.jsonl (0 if none).</summary>
    public long LastStep => Metrics.Count > 0 ? Metrics[^1]["step"]!.GetValue<long>() : 0;
}

/// <summary>Reads an experiment directory laid out as <c>&lt;arm&gt;/seed-&lt;n&gt;/</c> (what <c>compare</c> writes).</summary>
public static class ExperimentRuns
{
    /// <summary>The arm every relative change is measured against.</summary>
    public const string Reference = "grpo";

    /// <summary>
    /// Every run under <paramref name="runsDir"/> with metrics, grouped by arm (grpo first, then rorecomp, then by name);
    /// problems that leave the rest usable (a partial run, an unreadable line, a seed without metrics) go to <paramref name="warnings"/>.
    /// </summary>
    public static SortedDictionary<string, List<SeedRun>> Load(string runsDir, List<string> warnings)
    {
        var root = Path.GetFullPath(runsDir);
        if (!Directory.Exists(root)) throw new ReportException($"--runs {root}: no such directory");
        var arms = new SortedDictionary<string, List<SeedRun>>(ArmOrder.Instance);
        foreach (var armDir in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            var seedDirs = Directory.GetDirectories(armDir, "seed-*");
            if (seedDirs.Length == 0) continue;   // warm-<seed>/ and anything else that is not an arm
            var arm = Path.GetFileName(armDir);
            var runs = new List<SeedRun>();
            foreach (var seedDir in seedDirs)
            {
                var name = Path.GetFileName(seedDir);
                if (!int.TryParse(name["seed-".Length..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed))
                {
                    warnings.Add($"{arm}/{name}: not seed-<integer>; skipped");
                    continue;
                }
                if (ReadRun(arm, seed, seedDir, warnings) is { } run) runs.Add(run);
            }
            if (runs.Count == 0)
            {
                warnings.Add($"{arm}: no seed has metrics yet; arm left out");
                continue;
            }
            runs.Sort((a, b) => a.Seed.CompareTo(b.Seed));
            arms[arm] = runs;
        }
        if (arms.Count == 0)
            throw new ReportException($"--runs {root}: no <arm>/seed-<n>/ run directory with {RunRecorder.MetricsFile} in it (is this the --out of compare?)");
        if (!arms.ContainsKey(Reference))
            warnings.Add($"no {Reference} arm: changes relative to {Reference} are left out");
        return arms;
    }

    private static SeedRun? ReadRun(string arm, int seed, string dir, List<string> warnings)
    {
        var where = $"{arm}/seed-{seed}";
        var metricsPath = Path.Combine(dir, RunRecorder.MetricsFile);
        if (!File.Exists(metricsPath))
        {
            warnings.Add($"{where}: no {RunRecorder.MetricsFile} (not started, or still in its warm start); skipped");
            return null;
        }
        var metrics = new List<JsonObject>();
        var n = 0;
        foreach (var text in File.ReadLines(metricsPath))
        {
            n++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            try
            {
                if (JsonNode.Parse(text) is JsonObject o && o["step"] is not null) metrics.Add(o);
                else warnings.Add($"{where}: {RunRecorder.MetricsFile}:{n} has no step; ignored");
            }
            catch (JsonException)
            {
                warnings.Add($"{where}: {RunRecorder.MetricsFile}:{n} is not JSON (cut short?); ignored");
            }
        }
        if (metrics.Count == 0)
        {
            warnings.Add($"{where}: {RunRecorder.MetricsFile} holds no step yet; skipped");
            return null;
        }
        metrics.Sort((a, b) => a["step"]!.GetValue<long>().CompareTo(b["step"]!.GetValue<long>()));
        var baseline = ReadObject(Path.Combine(dir, RunRecorder.BaselineFile), where, warnings);
        var summary = ReadObject(Path.Combine(dir, RunRecorder.SummaryFile), where, warnings);
        if (baseline is null) warnings.Add($"{where}: no {RunRecorder.BaselineFile}: the warm-start point is missing from its curves");

        // Final held-out figures: summary.json's "final", else the run's last evaluation, else the warm start's.
        if (summary?["final"] is JsonObject final)
            return new SeedRun(arm, seed, dir, metrics, baseline, true, Num(final["accuracy"]), Num(final["mean_length"]), Num(final["tool_calls"]),
                final["step"]?.GetValue<long>() ?? metrics[^1]["step"]!.GetValue<long>());
        var lastEval = metrics.LastOrDefault(m => m["eval_accuracy"] is not null);
        if (summary is null) warnings.Add($"{where}: partial run (no {RunRecorder.SummaryFile}; metrics up to step {metrics[^1]["step"]}); final figures are its last evaluation");
        if (lastEval is not null)
            return new SeedRun(arm, seed, dir, metrics, baseline, summary is not null, Num(lastEval["eval_accuracy"]), Num(lastEval["eval_mean_length"]),
                Num(lastEval["eval_tool_calls"]), lastEval["step"]!.GetValue<long>());
        warnings.Add($"{where}: no held-out evaluation after the warm start yet; final figures are {(baseline is null ? "missing" : "the warm start's")}");
        return new SeedRun(arm, seed, dir, metrics, baseline, summary is not null,
            Num(baseline?["Accuracy"]), Num(baseline?["MeanLength"]), Num(baseline?["ToolCalls"]), baseline is null ? -1 : 0);
    }

    private static JsonObject? ReadObject(string path, string where, List<string> warnings)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject;
        }
        catch (JsonException)
        {
            warnings.Add($"{where}: {Path.GetFileName(path)} is not valid JSON; ignored");
            return null;
        }
    }

    /// <summary>A JSON number as a double (NaN for null or a non-number).</summary>
    public static double Num(JsonNode? n) =>
        n is JsonValue v && v.TryGetValue<double>(out var d) ? d : double.NaN;

    /// <summary>grpo, rorecomp, then the other arms by name.</summary>
    public sealed class ArmOrder : IComparer<string>
    {
        public static readonly ArmOrder Instance = new();

        private static int Rank(string arm) => arm switch { Reference => 0, "rorecomp" => 1, _ => 2 };

        public int Compare(string? x, string? y)
        {
            var r = Rank(x ?? "").CompareTo(Rank(y ?? ""));
            return r != 0 ? r : string.CompareOrdinal(x, y);
        }
    }
}
