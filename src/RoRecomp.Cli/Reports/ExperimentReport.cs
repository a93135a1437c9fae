using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Steps;
using ScottPlot;

namespace RoRecomp.Cli.Reports;

/// <summary>What <see cref="ExperimentReport.Write"/> produced.</summary>
/// <param name="OutDir">Where the files are.</param>
/// <param name="Plots">PNG file names written.</param>
/// <param name="Warnings">Problems that left the rest of the report usable (partial runs, missing seeds or arms).</param>
public sealed record ReportResult(string OutDir, IReadOnlyList<string> Plots, IReadOnlyList<string> Warnings);

/// <summary>
/// The comparison of an experiment directory (<c>&lt;arm&gt;/seed-&lt;n&gt;/</c>): per-metric PNG plots over steps (per arm the
/// mean across seeds with a min-max band), <c>index.html</c> with the plots and a table of final held-out accuracy and
/// length change relative to the grpo arm, and <c>summary.json</c> with the same per arm and per seed.
/// </summary>
public static class ExperimentReport
{
    /// <summary>
    /// The plotted metrics: metrics.jsonl key (names the plot), its value in a line (null where a line has none), the
    /// eval-baseline.json figure for the step-0 point (or null), title, y label, and whether only some tasks record it
    /// (then a report without it draws no plot and warns of nothing).
    /// </summary>
    private static readonly (string Key, Func<MetricsLine, double?> Value, Func<HeldOutEvaluation, double>? Baseline, string Title, string YLabel, bool TaskSpecific)[] Series =
    [
        ("mean_length", m => m.MeanLength, b => b.MeanLength, "Mean response length (online batch)", "tokens", false),
        ("eval_accuracy", m => m.EvalAccuracy, b => b.Accuracy, "Held-out accuracy", "accuracy", false),
        ("eval_mean_length", m => m.EvalMeanLength, b => b.MeanLength, "Held-out mean response length", "tokens", false),
        ("tool_calls", m => m.ToolCalls, b => b.ToolCalls, "Tool calls per response (online batch)", "tool calls", false),
        ("eval_unnecessary_tool_calls", m => m.EvalUnnecessaryToolCalls, b => b.UnnecessaryToolCalls ?? double.NaN,
            "Held-out unnecessary tool calls per response", "unnecessary tool calls", true),
        ("entropy", m => m.Entropy, null, "Policy entropy", "nats / token", false),
        ("priority_size", m => m.PrioritySize, null, "Priority batch size", "responses", false),
        ("compensation_size", m => m.CompensationSize, null, "Compensation batch size", "responses", false),
    ];

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>
    /// Reads <paramref name="runsDir"/> and writes the report into <paramref name="outDir"/>: each run's final held-out
    /// evaluation, or with <paramref name="atStep"/> its evaluation after that step (curves drawn up to it; see
    /// <see cref="ExperimentRuns.Load"/>). Throws <see cref="ReportException"/> if there is nothing to report.
    /// </summary>
    public static ReportResult Write(string runsDir, string outDir, long? atStep = null)
    {
        var warnings = new List<string>();
        var arms = ExperimentRuns.Load(runsDir, warnings, atStep);
        var reference = arms.GetValueOrDefault(ExperimentRuns.Reference);
        if (reference is not null)
        {
            foreach (var (arm, runs) in arms)
            {
                foreach (var missing in runs.Select(r => r.Seed).Except(reference.Select(r => r.Seed)))
                    warnings.Add($"{arm}/seed-{missing}: no {ExperimentRuns.Reference}/seed-{missing} to compare with; its changes are left out");
            }
        }
        var seeds = arms.Values.SelectMany(r => r.Select(x => x.Seed)).Distinct().Order().ToList();
        foreach (var (arm, runs) in arms)
        {
            var absent = seeds.Except(runs.Select(r => r.Seed)).ToList();
            if (absent.Count > 0) warnings.Add($"{arm}: no run for seed(s) {string.Join(", ", absent)}; its means are over {runs.Count} seed(s)");
        }

        Directory.CreateDirectory(outDir);
        var plots = new List<string>();
        var curves = atStep is not { } n ? arms : UpTo(arms, n);
        foreach (var s in Series)
        {
            var file = s.Key.Replace('_', '-') + ".png";
            if (Plot(curves, s.Value, s.Baseline, s.Title, s.YLabel, Path.Combine(outDir, file))) plots.Add(file);
            else if (!s.TaskSpecific) warnings.Add($"{s.Key}: no run has it; {file} not drawn");
        }

        if (Pareto(arms, r => r.FinalMeanLength, "length", "mean response length (tokens)", atStep, Path.Combine(outDir, "pareto-length.png"))) plots.Add("pareto-length.png");
        if (arms.Values.SelectMany(r => r).Any(r => r.FinalToolCalls > 0)
            && Pareto(arms, r => r.FinalToolCalls, "tool calls", "tool calls per response", atStep, Path.Combine(outDir, "pareto-tool-calls.png")))
            plots.Add("pareto-tool-calls.png");
        if (Pareto(arms, r => r.FinalUnnecessaryToolCalls, "unnecessary tool calls", "unnecessary tool calls per response", atStep,
                Path.Combine(outDir, "pareto-unnecessary-tool-calls.png")))
            plots.Add("pareto-unnecessary-tool-calls.png");

        var summary = Summary(arms, reference, atStep, warnings);
        File.WriteAllText(Path.Combine(outDir, SummaryFile), summary.ToJsonString(Indented));
        File.WriteAllText(Path.Combine(outDir, "index.html"), Html(runsDir, summary, plots, atStep, warnings));
        return new ReportResult(Path.GetFullPath(outDir), plots, warnings);
    }

    /// <summary>The report's summary file in its --out directory.</summary>
    public const string SummaryFile = "summary.json";

    /// <summary>The summary.json key that records <c>--at-step</c> (absent when the figures are the final evaluations).</summary>
    public const string AtStepKey = "at_step";

    /// <summary>The runs with their metrics cut at <paramref name="step"/>: the curves of a report taken at that step.</summary>
    private static SortedDictionary<string, List<SeedRun>> UpTo(SortedDictionary<string, List<SeedRun>> arms, long step)
    {
        var cut = new SortedDictionary<string, List<SeedRun>>(ExperimentRuns.ArmOrder.Instance);
        foreach (var (arm, runs) in arms)
            cut[arm] = [.. runs.Select(r => r with { Metrics = [.. r.Metrics.Where(m => m.Step <= step)] })];
        return cut;
    }

    /// <summary>
    /// Per step: the mean, min and max over the seeds that have a finite <paramref name="value"/> at that step, with
    /// step 0 from the warm start's <paramref name="baseline"/> figure (when given and the run has its baseline).
    /// </summary>
    public static (double[] Steps, double[] Mean, double[] Min, double[] Max) Aggregate(
        IEnumerable<SeedRun> runs, Func<MetricsLine, double?> value, Func<HeldOutEvaluation, double>? baseline)
    {
        var byStep = new SortedDictionary<long, List<double>>();
        foreach (var run in runs)
        {
            if (baseline is not null && run.Baseline is not null && baseline(run.Baseline) is var b && double.IsFinite(b))
                Add(0, b);
            foreach (var m in run.Metrics)
            {
                if (value(m) is { } v && double.IsFinite(v)) Add(m.Step, v);
            }
        }
        return ([.. byStep.Keys.Select(k => (double)k)], [.. byStep.Values.Select(v => v.Average())], [.. byStep.Values.Select(v => v.Min())], [.. byStep.Values.Select(v => v.Max())]);

        void Add(long step, double v)
        {
            if (!byStep.TryGetValue(step, out var list)) byStep[step] = list = [];
            list.Add(v);
        }
    }

    /// <summary>
    /// One figure: each arm, in order and with its own colour (the same arm has the same colour in every figure), drawn by
    /// <paramref name="drawArm"/> (false: the arm has nothing to draw here); saved to <paramref name="path"/> with the
    /// legend below the axes, outside the data (the curves' final points are where readers look first). False, and
    /// nothing saved, when no arm drew.
    /// </summary>
    private static bool Figure(
        SortedDictionary<string, List<SeedRun>> arms, Func<Plot, string, List<SeedRun>, Color, bool> drawArm, string title, string xLabel, string yLabel, string path)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var any = false;
        var i = 0;
        foreach (var (arm, runs) in arms) any |= drawArm(plot, arm, runs, palette.GetColor(i++));
        if (!any) return false;
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend(Edge.Bottom);
        plot.SavePng(path, 900, 560);
        return true;
    }

    /// <summary>A metric over steps: per arm the mean across seeds, with the min-max band when there are several.</summary>
    private static bool Plot(
        SortedDictionary<string, List<SeedRun>> arms, Func<MetricsLine, double?> value, Func<HeldOutEvaluation, double>? baseline, string title, string yLabel, string path) =>
        Figure(arms, (plot, arm, runs, color) =>
        {
            var (xs, mean, min, max) = Aggregate(runs, value, baseline);
            if (xs.Length == 0) return false;
            if (runs.Count > 1 && xs.Length > 1)
            {
                var band = plot.Add.FillY(xs, min, max);
                band.FillColor = color.WithAlpha(0.2);
                band.LineWidth = 0;
            }
            var line = plot.Add.Scatter(xs, mean);
            line.Color = color;
            line.LineWidth = 2;
            line.MarkerSize = xs.Length > 40 ? 0 : 4;
            line.LegendText = runs.Count > 1 ? $"{arm} (mean of {runs.Count} seeds, min-max band)" : $"{arm} (1 seed)";
            return true;
        }, title, "step", yLabel, path);

    /// <summary>
    /// The Pareto view: one point per (arm, seed) at its final held-out <paramref name="x"/> (mean length or tool calls) and
    /// accuracy (with <paramref name="atStep"/>, those after that step), the arm's mean as a larger marker; up and to the
    /// left is better. False when no run has both figures.
    /// </summary>
    private static bool Pareto(SortedDictionary<string, List<SeedRun>> arms, Func<SeedRun, double> x, string what, string xLabel, long? atStep, string path) =>
        Figure(arms, (plot, arm, runs, color) =>
        {
            var points = runs.Where(r => double.IsFinite(x(r)) && double.IsFinite(r.FinalAccuracy)).ToList();
            if (points.Count == 0) return false;
            var seeds = plot.Add.ScatterPoints(points.Select(x).ToArray(), points.Select(r => r.FinalAccuracy * 100).ToArray());
            seeds.Color = color;
            seeds.MarkerSize = 7;
            seeds.LegendText = $"{arm} ({points.Count} seed{(points.Count == 1 ? "" : "s")}; large: mean)";
            var mean = plot.Add.ScatterPoints(new[] { points.Average(x) }, new[] { points.Average(r => r.FinalAccuracy) * 100 });
            mean.Color = color;
            mean.MarkerSize = 14;
            mean.MarkerShape = MarkerShape.OpenCircle;
            return true;
        }, $"Held-out accuracy vs {what} ({(atStep is { } n ? $"at step {n}" : "final")}, one point per arm and seed)", xLabel, "held-out accuracy (%)", path);

    private static double Change(double value, double reference) =>
        double.IsFinite(value) && double.IsFinite(reference) && reference > 0 ? (value - reference) / reference * 100 : double.NaN;

    private static JsonNode? Json(double x, int digits = 4) => double.IsFinite(x) ? JsonValue.Create(Math.Round(x, digits)) : null;

    private static JsonObject Spread(IEnumerable<double> values)
    {
        var v = values.Where(double.IsFinite).ToList();
        return v.Count == 0
            ? new JsonObject { ["n"] = 0 }
            : new JsonObject { ["mean"] = Json(v.Average()), ["min"] = Json(v.Min()), ["max"] = Json(v.Max()), ["n"] = v.Count };
    }

    private static JsonObject Summary(SortedDictionary<string, List<SeedRun>> arms, List<SeedRun>? reference, long? atStep, List<string> warnings)
    {
        var armsJson = new JsonObject();
        foreach (var (arm, runs) in arms)
        {
            var seedsJson = new JsonObject();
            var lengthChanges = new List<double>();
            var accuracyChanges = new List<double>();
            var toolChanges = new List<double>();
            var unnecessaryChanges = new List<double>();
            // Unnecessary tool calls only where a run recorded them (a task with an audit): other reports keep their keys.
            var audited = runs.Any(r => double.IsFinite(r.FinalUnnecessaryToolCalls));
            foreach (var r in runs)
            {
                var seed = new JsonObject
                {
                    ["finished"] = r.Finished,
                    ["last_step"] = r.LastStep,
                    ["final_eval_step"] = r.FinalStep,
                    ["final_accuracy"] = Json(r.FinalAccuracy),
                    ["final_mean_length"] = Json(r.FinalMeanLength),
                    ["final_tool_calls"] = Json(r.FinalToolCalls),
                };
                if (audited) seed["final_unnecessary_tool_calls"] = Json(r.FinalUnnecessaryToolCalls);
                if (atStep is not null) seed["ended_before_at_step"] = r.EndedBeforeAtStep;
                if (reference?.FirstOrDefault(x => x.Seed == r.Seed) is { } g)
                {
                    var dl = Change(r.FinalMeanLength, g.FinalMeanLength);
                    var da = (r.FinalAccuracy - g.FinalAccuracy) * 100;
                    var dt = Change(r.FinalToolCalls, g.FinalToolCalls);
                    var du = Change(r.FinalUnnecessaryToolCalls, g.FinalUnnecessaryToolCalls);
                    lengthChanges.Add(dl);
                    accuracyChanges.Add(da);
                    toolChanges.Add(dt);
                    unnecessaryChanges.Add(du);
                    var vs = seed["vs_" + ExperimentRuns.Reference] = new JsonObject
                    {
                        ["length_change_percent"] = Json(dl, 2),
                        ["accuracy_change_points"] = Json(da, 2),
                        ["tool_calls_change_percent"] = Json(dt, 2),
                    };
                    if (audited) vs["unnecessary_tool_calls_change_percent"] = Json(du, 2);
                }
                seedsJson[r.Seed.ToString(CultureInfo.InvariantCulture)] = seed;
            }
            var armJson = armsJson[arm] = new JsonObject
            {
                ["seeds"] = seedsJson,
                ["finished_seeds"] = runs.Count(r => r.Finished),
                ["final_accuracy"] = Spread(runs.Select(r => r.FinalAccuracy)),
                ["final_mean_length"] = Spread(runs.Select(r => r.FinalMeanLength)),
                ["final_tool_calls"] = Spread(runs.Select(r => r.FinalToolCalls)),
                ["length_change_percent"] = Spread(lengthChanges),
                ["accuracy_change_points"] = Spread(accuracyChanges),
                ["tool_calls_change_percent"] = Spread(toolChanges),
            };
            if (audited)
            {
                armJson["final_unnecessary_tool_calls"] = Spread(runs.Select(r => r.FinalUnnecessaryToolCalls));
                armJson["unnecessary_tool_calls_change_percent"] = Spread(unnecessaryChanges);
            }
            if (atStep is not null) armJson["ended_before_at_step"] = runs.Count(r => r.EndedBeforeAtStep);
        }
        var summary = new JsonObject { ["reference_arm"] = ExperimentRuns.Reference };
        if (atStep is { } n) summary[AtStepKey] = n;
        summary["arms"] = armsJson;
        summary["warnings"] = new JsonArray([.. warnings.Select(w => (JsonNode?)JsonValue.Create(w))]);
        return summary;
    }

    private static string Cell(JsonNode? spread, string format, string unit = "")
    {
        if (spread?["mean"] is null) return "–";
        string F(string k) => ExperimentRuns.Num(spread[k]).ToString(format, CultureInfo.InvariantCulture);
        var n = spread["n"]!.GetValue<int>();
        return n > 1 ? $"{F("mean")}{unit} [{F("min")}, {F("max")}]" : $"{F("mean")}{unit}";
    }

    private static string Html(string runsDir, JsonObject summary, List<string> plots, long? atStep, List<string> warnings)
    {
        var h = new StringBuilder();
        h.AppendLine("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>RoRecomp experiment report</title>");
        h.AppendLine("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}img{max-width:900px;display:block;margin:1em 0}</style></head><body>");
        h.AppendLine($"<h1>RoRecomp experiment report</h1><p>Runs: <code>{WebUtility.HtmlEncode(Path.GetFullPath(runsDir))}</code>. " +
            (atStep is { } n
                ? $"Figures are each run's held-out evaluation after <b>step {n}</b> (<code>--at-step {n}</code>; curves up to it); runs that ended before it are counted, without figures. "
                : "Final figures are each run's last held-out evaluation; ") +
            "values are the mean over seeds with [min, max] across seeds. " +
            $"Changes are relative to the <b>{ExperimentRuns.Reference}</b> arm of the same seed.</p>");
        var audited = summary["arms"]!.AsObject().Any(a => a.Value!["final_unnecessary_tool_calls"] is not null);
        h.AppendLine($"<table><tr><th>arm</th><th>seeds (finished)</th><th>{(atStep is null ? "final " : $"step-{atStep} ")}held-out accuracy</th><th>held-out mean length</th>" +
            $"<th>length vs {ExperimentRuns.Reference}</th><th>accuracy vs {ExperimentRuns.Reference}</th><th>tool calls</th><th>tool calls vs {ExperimentRuns.Reference}</th>" +
            (audited ? $"<th>unnecessary tool calls</th><th>unnecessary vs {ExperimentRuns.Reference}</th>" : "") + "</tr>");
        foreach (var (arm, node) in summary["arms"]!.AsObject())
        {
            var a = node!.AsObject();
            var before = a["ended_before_at_step"]?.GetValue<int>() is > 0 and var k ? $"; {k} ended before step {atStep}" : "";
            h.AppendLine($"<tr><td>{WebUtility.HtmlEncode(arm)}</td><td>{a["seeds"]!.AsObject().Count} ({a["finished_seeds"]}{before})</td>" +
                $"<td>{Cell(a["final_accuracy"], "0.000")}</td><td>{Cell(a["final_mean_length"], "0.0")}</td>" +
                $"<td>{Cell(a["length_change_percent"], "+0.0;-0.0", " %")}</td><td>{Cell(a["accuracy_change_points"], "+0.0;-0.0", " pt")}</td>" +
                $"<td>{Cell(a["final_tool_calls"], "0.00")}</td><td>{Cell(a["tool_calls_change_percent"], "+0.0;-0.0", " %")}</td>" +
                (audited ? $"<td>{Cell(a["final_unnecessary_tool_calls"], "0.00")}</td><td>{Cell(a["unnecessary_tool_calls_change_percent"], "+0.0;-0.0", " %")}</td>" : "") +
                "</tr>");
        }
        h.AppendLine("</table>");
        if (warnings.Count > 0)
        {
            h.AppendLine("<h2>Warnings</h2><ul>");
            foreach (var w in warnings) h.AppendLine($"<li>{WebUtility.HtmlEncode(w)}</li>");
            h.AppendLine("</ul>");
        }
        h.AppendLine("<h2>Curves</h2>");
        foreach (var p in plots) h.AppendLine($"<img src=\"{p}\" alt=\"{p}\">");
        h.AppendLine("<p>Per-seed figures: <a href=\"summary.json\">summary.json</a>.</p></body></html>");
        return h.ToString();
    }
}
