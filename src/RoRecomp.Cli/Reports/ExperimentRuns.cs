using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Steps;

namespace RoRecomp.Cli.Reports;

/// <summary>The experiment directory is unusable (missing, or no run in it); the message says why.</summary>
public sealed class ReportException(string message) : Exception(message);

/// <summary>One (arm, seed) run directory as read back: its per-step metrics, warm-start baseline and final held-out figures.</summary>
/// <param name="Arm">Arm name (the directory above <c>seed-&lt;n&gt;</c>).</param>
/// <param name="Seed">The seed (from <c>seed-&lt;n&gt;</c>).</param>
/// <param name="Dir">The run directory.</param>
/// <param name="Metrics">metrics.jsonl, one line per step, in step order.</param>
/// <param name="Baseline">eval-baseline.json (the warm start, held out), or null.</param>
/// <param name="Finished">Whether summary.json is present.</param>
/// <param name="FinalAccuracy">Final held-out accuracy (summary.json, else the last evaluation in metrics.jsonl; NaN if none).</param>
/// <param name="FinalMeanLength">Final held-out mean length in tokens (as above).</param>
/// <param name="FinalToolCalls">Final held-out tool calls per response (as above).</param>
/// <param name="FinalStep">The step of the final evaluation (0 = the warm start; -1 = none); with <c>--at-step N</c>, N.</param>
/// <param name="EndedBeforeAtStep">With <c>--at-step N</c>: the run's metrics stop before step N (it ran fewer steps, or has not
/// got there yet), so it has no figures at N (they are NaN) and is listed as such; false otherwise.</param>
/// <param name="FinalUnnecessaryToolCalls">Final held-out unnecessary tool calls per response (as above), for a task that
/// audits them (<c>IToolCallAudit</c>); NaN for other tasks and for runs recorded before the figure existed.</param>
public sealed record SeedRun(
    string Arm, int Seed, string Dir, IReadOnlyList<MetricsLine> Metrics, HeldOutEvaluation? Baseline, bool Finished,
    double FinalAccuracy, double FinalMeanLength, double FinalToolCalls, long FinalStep, bool EndedBeforeAtStep = false,
    double FinalUnnecessaryToolCalls = double.NaN)
{
    /// <summary>The last step in metrics.jsonl (0 if none).</summary>
    public long LastStep => Metrics.Count > 0 ? Metrics[^1].Step : 0;
}

/// <summary>Reads an experiment directory laid out as <c>&lt;arm&gt;/seed-&lt;n&gt;/</c> (what <c>compare</c> writes).</summary>
public static class ExperimentRuns
{
    /// <summary>The arm every relative change is measured against.</summary>
    public const string Reference = "grpo";

    /// <summary>
    /// Every run under <paramref name="runsDir"/> with metrics, grouped by arm (grpo first, then rorecomp, then by name);
    /// problems that leave the rest usable (a partial run, an unreadable line, a seed without metrics) go to <paramref name="warnings"/>.
    /// Each run's figures are its final held-out evaluation, or with <paramref name="atStep"/> its evaluation after that step:
    /// a run whose metrics stop before it is marked <see cref="SeedRun.EndedBeforeAtStep"/>; a run that went past it without
    /// evaluating there is a <see cref="ReportException"/> naming the run.
    /// </summary>
    public static SortedDictionary<string, List<SeedRun>> Load(string runsDir, List<string> warnings, long? atStep = null)
    {
        var root = Path.GetFullPath(runsDir);
        if (!Directory.Exists(root)) throw new ReportException($"--runs {root}: no such directory");
        if (atStep is < 1) throw new ReportException($"--at-step {atStep}: must be a step >= 1");
        var arms = new SortedDictionary<string, List<SeedRun>>(ArmOrder.Instance);
        foreach (var armDir in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            var seedDirs = Directory.GetDirectories(armDir, "seed-*").Order(StringComparer.Ordinal).ToList();   // warnings in one order everywhere
            if (seedDirs.Count == 0) continue;   // warm-<seed>/ and anything else that is not an arm
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
                if (ReadRun(arm, seed, seedDir, atStep, warnings) is { } run) runs.Add(run);
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
            throw new ReportException($"--runs {root}: no <arm>/seed-<n>/ run directory with {RunFiles.MetricsFile} in it (is this the --out of compare?)");
        if (!arms.ContainsKey(Reference))
            warnings.Add($"no {Reference} arm: changes relative to {Reference} are left out");
        return arms;
    }

    private static SeedRun? ReadRun(string arm, int seed, string dir, long? atStep, List<string> warnings)
    {
        var where = $"{arm}/seed-{seed}";
        if (!File.Exists(RunFiles.PathOf(dir, RunFiles.MetricsFile)))
        {
            warnings.Add($"{where}: no {RunFiles.MetricsFile} (not started, or still in its warm start); skipped");
            return null;
        }
        var metrics = RunFiles.ReadMetrics(dir, (n, fault) => warnings.Add($"{where}: {RunFiles.MetricsFile}:{n} " + fault switch
        {
            MetricsLineFault.NotJson => "is not JSON (cut short?); ignored",
            MetricsLineFault.NoStep => "has no step; ignored",
            _ => "has a value of the wrong type; ignored",
        }));
        if (metrics.Count == 0)
        {
            warnings.Add($"{where}: {RunFiles.MetricsFile} holds no step yet; skipped");
            return null;
        }
        metrics.Sort((a, b) => a.Step.CompareTo(b.Step));
        var baseline = Read(RunFiles.ReadBaseline, dir, RunFiles.BaselineFile, where, warnings);
        var summary = Read(RunFiles.ReadSummary, dir, RunFiles.SummaryFile, where, warnings);
        if (baseline is null) warnings.Add($"{where}: no {RunFiles.BaselineFile}: the warm-start point is missing from its curves");
        if (atStep is { } n) return AtStep(arm, seed, dir, metrics, baseline, summary, n, warnings);

        // Final held-out figures: summary.json's "final", else the run's last evaluation, else the warm start's.
        if (summary?.Final is { } final)
            return new SeedRun(arm, seed, dir, metrics, baseline, true, final.Accuracy, final.MeanLength, final.ToolCalls, final.Step,
                FinalUnnecessaryToolCalls: final.UnnecessaryToolCalls ?? double.NaN);
        var lastEval = metrics.LastOrDefault(m => m.EvalAccuracy is not null);
        if (summary is null) warnings.Add($"{where}: partial run (no {RunFiles.SummaryFile}; metrics up to step {metrics[^1].Step}); final figures are its last evaluation");
        if (lastEval is not null)
            return new SeedRun(arm, seed, dir, metrics, baseline, summary is not null, lastEval.EvalAccuracy ?? double.NaN, lastEval.EvalMeanLength ?? double.NaN,
                lastEval.EvalToolCalls ?? double.NaN, lastEval.Step, FinalUnnecessaryToolCalls: lastEval.EvalUnnecessaryToolCalls ?? double.NaN);
        warnings.Add($"{where}: no held-out evaluation after the warm start yet; final figures are {(baseline is null ? "missing" : "the warm start's")}");
        return new SeedRun(arm, seed, dir, metrics, baseline, summary is not null,
            baseline?.Accuracy ?? double.NaN, baseline?.MeanLength ?? double.NaN, baseline?.ToolCalls ?? double.NaN, baseline is null ? -1 : 0,
            FinalUnnecessaryToolCalls: baseline?.UnnecessaryToolCalls ?? double.NaN);
    }

    /// <summary>The run's figures at its evaluation after step <paramref name="n"/> (see <see cref="Load"/>).</summary>
    private static SeedRun AtStep(
        string arm, int seed, string dir, List<MetricsLine> metrics, HeldOutEvaluation? baseline, RunSummaryFile? summary, long n, List<string> warnings)
    {
        var where = $"{arm}/seed-{seed}";
        var finished = summary is not null;
        var last = metrics[^1].Step;
        if (last < n)
        {
            warnings.Add(finished
                ? $"{where}: ended at step {last}, before --at-step {n}; listed without figures"
                : $"{where}: partial run (no {RunFiles.SummaryFile}; metrics up to step {last}), not at --at-step {n} yet; listed without figures");
            return new SeedRun(arm, seed, dir, metrics, baseline, finished, double.NaN, double.NaN, double.NaN, n, EndedBeforeAtStep: true);
        }
        var eval = metrics.FirstOrDefault(m => m.Step == n && m.EvalAccuracy is not null);
        if (eval is null)
        {
            var evaluated = metrics.Where(m => m.EvalAccuracy is not null).Select(m => m.Step.ToString(CultureInfo.InvariantCulture)).ToList();
            throw new ReportException($"--at-step {n}: {where} ({dir}) ran to step {last} but has no held-out evaluation at step {n} " +
                $"(it evaluated at {(evaluated.Count == 0 ? "no step" : "steps " + string.Join(", ", evaluated))}); pick one of those steps");
        }
        if (!finished) warnings.Add($"{where}: partial run (no {RunFiles.SummaryFile}; metrics up to step {last})");
        return new SeedRun(arm, seed, dir, metrics, baseline, finished, eval.EvalAccuracy ?? double.NaN, eval.EvalMeanLength ?? double.NaN,
            eval.EvalToolCalls ?? double.NaN, n, FinalUnnecessaryToolCalls: eval.EvalUnnecessaryToolCalls ?? double.NaN);
    }

    /// <summary>A run file through its reader; null (and a warning) when it is not valid JSON.</summary>
    private static T? Read<T>(Func<string, T?> reader, string dir, string file, string where, List<string> warnings)
        where T : class
    {
        try
        {
            return reader(dir);
        }
        catch (JsonException)
        {
            warnings.Add($"{where}: {file} is not valid JSON; ignored");
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
