using RoRecomp.Training.Steps;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RoRecomp.Training.Runs;

/// <summary>The end-of-run comparison written to <c>&lt;run-dir&gt;/summary.json</c>.</summary>
public sealed record RunSummary(
    string Task, bool Recomposition, long Steps, double WallSeconds,
    double WarmStartAccuracy, double WarmStartMeanLength, double WarmStartToolCalls,
    double FinalAccuracy, double FinalMeanLength, double FinalToolCalls,
    double LengthChangePercent, double AccuracyChangePoints, double ToolCallsChangePercent);

/// <summary>
/// The run's record keeper: appends one JSON object per step to <c>metrics.jsonl</c> (on resume, lines after the
/// step resumed from are dropped first, because those steps run again: each step is written once), keeps the
/// warm-start evaluation in <c>eval-baseline.json</c>, writes <c>summary.json</c> at the end and prints a live
/// progress line. <see cref="Completion"/> completes when the run finishes or fails.
/// </summary>
public sealed class RunRecorder : IRunReporter
{
    /// <summary>File names inside the run directory.</summary>
    public const string MetricsFile = "metrics.jsonl", BaselineFile = "eval-baseline.json", SummaryFile = "summary.json";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
    private readonly string _runDir;
    private readonly string _task;
    private readonly bool _recomposition;
    private readonly TextWriter _out;
    private readonly bool _interactive;
    private readonly TaskCompletionSource<RunSummary> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Stopwatch _clock = new();
    private long _totalSteps;
    private long _firstStep;
    private double _wallBase;
    private HeldOutEvaluation? _baseline;
    private HeldOutEvaluation? _lastEval;
    private long _lastStep;

    /// <summary>A recorder for the run in <paramref name="runDir"/>, printing progress to <paramref name="output"/>.</summary>
    public RunRecorder(string runDir, string task, bool recomposition, TextWriter output, bool interactive)
    {
        _runDir = runDir;
        _task = task;
        _recomposition = recomposition;
        _out = output;
        _interactive = interactive;
    }

    /// <summary>Completes with the summary when the run finishes; faults with <see cref="RunFailedException"/> when it fails.</summary>
    public Task<RunSummary> Completion => _completion.Task;

    private string MetricsPath => Path.Combine(_runDir, MetricsFile);

    /// <inheritdoc />
    public void Started(RunStart start)
    {
        _clock.Start();
        _totalSteps = start.TotalSteps;
        var fromStep = start.From?.Step ?? 0;
        _firstStep = fromStep;
        _lastStep = fromStep;
        var kept = ReadMetrics().Where(l => l["step"]!.GetValue<long>() <= fromStep).ToList();
        AtomicFile.WriteAllText(MetricsPath, string.Concat(kept.Select(l => l.ToJsonString() + "\n")));
        _wallBase = kept.Count > 0 ? kept[^1]["wall_s"]!.GetValue<double>() : 0;
        _lastEval = kept.LastOrDefault(l => l["eval_accuracy"] is not null) is { } e ? EvalOf(e) : null;
        var baselinePath = Path.Combine(_runDir, BaselineFile);
        if (File.Exists(baselinePath)) _baseline = JsonSerializer.Deserialize<HeldOutEvaluation>(File.ReadAllText(baselinePath));
        foreach (var s in start.Skipped) _out.WriteLine($"warning: checkpoint skipped: {s}");
        _out.WriteLine(start.From is { } from
            ? $"resuming from step {from.Step} (policy v{from.PolicyVersion}, {from.Path}); {_totalSteps - from.Step} steps to go"
            : $"starting from the warm start; {_totalSteps} steps");
    }

    /// <inheritdoc />
    public void Baseline(HeldOutEvaluation evaluation)
    {
        _baseline = evaluation;
        AtomicFile.WriteAllText(Path.Combine(_runDir, BaselineFile), JsonSerializer.Serialize(evaluation, Indented));
        _out.WriteLine($"warm start (held-out, {evaluation.Responses} responses): accuracy {evaluation.Accuracy:P1}, mean length {evaluation.MeanLength:F1} tokens, tool calls {evaluation.ToolCalls:F2}");
    }

    /// <inheritdoc />
    public void StepCompleted(StepRecord r)
    {
        var wall = _wallBase + _clock.Elapsed.TotalSeconds;
        var line = MetricsLine(r, wall, _runDir);
        if (r.Eval is { } e) _lastEval = e;
        using (var f = new FileStream(MetricsPath, FileMode.Append, FileAccess.Write, FileShare.Read))
        using (var w = new StreamWriter(f))
        {
            w.Write(line.ToJsonString() + "\n");
            w.Flush();
            f.Flush(flushToDisk: true);
        }
        _lastStep = r.Online.Step;
        Progress(r, wall);
    }

    /// <summary>
    /// The <c>metrics.jsonl</c> line of a step: its online, learner and held-out figures, its cursor and times
    /// (<paramref name="wallSeconds"/> since the run started), and its checkpoint relative to <paramref name="runDir"/>.
    /// </summary>
    public static JsonObject MetricsLine(StepRecord r, double wallSeconds, string runDir)
    {
        var m = r.Online;
        var l = r.Learner;
        var line = new JsonObject
        {
            ["step"] = m.Step,
            ["policy_version"] = m.PolicyVersion,
            ["accuracy"] = m.Accuracy,
            ["mean_length"] = m.MeanLength,
            ["mean_length_correct"] = m.MeanLengthCorrect,
            ["tool_calls"] = m.MeanToolCalls,
            ["format_valid"] = m.FormatValid,
            ["responses"] = m.Responses,
            ["priority_size"] = m.PrioritySize,
            ["short_correct"] = m.ShortCorrect,
            ["long_incorrect"] = m.LongIncorrect,
            ["compensation_size"] = m.CompensationSize,
            ["buffer_size"] = m.BufferSize,
            ["min_policy_version"] = m.MinPolicyVersion,
            ["policy_lag"] = m.PolicyLag,
            ["loss"] = l.Loss,
            ["entropy"] = l.Entropy,
            ["clip_fraction"] = l.ClipFraction,
            ["approx_kl"] = l.ApproxKl,
            ["grad_norm"] = l.GradNorm,
            ["lr"] = l.LearningRate,
            ["compensation_loss"] = l.CompensationLoss,
            ["compensation_weight"] = l.CompensationWeight,
            ["cursor"] = r.Cursor,
            ["step_s"] = Math.Round(r.StepSeconds, 3),
            ["train_s"] = Math.Round(l.TrainSeconds, 3),
            ["wall_s"] = Math.Round(wallSeconds, 3),
        };
        if (r.Eval is { } e)
        {
            line["eval_accuracy"] = e.Accuracy;
            line["eval_mean_length"] = e.MeanLength;
            line["eval_tool_calls"] = e.ToolCalls;
            line["eval_format_valid"] = e.FormatValid;
        }
        if (r.Checkpoint is not null) line["checkpoint"] = Path.GetRelativePath(runDir, r.Checkpoint);
        return line;
    }

    /// <inheritdoc />
    public void Notice(string message)
    {
        if (_interactive) _out.WriteLine();
        _out.WriteLine(message);
    }

    /// <inheritdoc />
    public void Finished()
    {
        if (_interactive) _out.WriteLine();
        var b = _baseline;
        var f = _lastEval;
        var summary = new RunSummary(
            _task, _recomposition, _lastStep, _wallBase + _clock.Elapsed.TotalSeconds,
            b?.Accuracy ?? double.NaN, b?.MeanLength ?? double.NaN, b?.ToolCalls ?? double.NaN,
            f?.Accuracy ?? double.NaN, f?.MeanLength ?? double.NaN, f?.ToolCalls ?? double.NaN,
            Change(b?.MeanLength, f?.MeanLength), ((f?.Accuracy ?? double.NaN) - (b?.Accuracy ?? double.NaN)) * 100,
            Change(b?.ToolCalls, f?.ToolCalls));
        var json = new JsonObject
        {
            ["task"] = summary.Task,
            ["recomposition"] = summary.Recomposition,
            ["steps"] = summary.Steps,
            ["wall_s"] = Math.Round(summary.WallSeconds, 1),
            ["warm_start"] = Eval(b),
            ["final"] = Eval(f),
            ["length_change_percent"] = Finite(summary.LengthChangePercent),
            ["accuracy_change_points"] = Finite(summary.AccuracyChangePoints),
            ["tool_calls_change_percent"] = Finite(summary.ToolCallsChangePercent),
        };
        AtomicFile.WriteAllText(Path.Combine(_runDir, SummaryFile), json.ToJsonString(Indented));
        _completion.TrySetResult(summary);
    }

    /// <inheritdoc />
    public void Failed(string reason)
    {
        if (_interactive) _out.WriteLine();
        _completion.TrySetException(new RunFailedException(reason));
    }

    private void Progress(StepRecord r, double wall)
    {
        var m = r.Online;
        var done = m.Step - _firstStep;
        var rate = done / Math.Max(_clock.Elapsed.TotalMinutes, 1e-9);
        var eta = rate > 0 ? TimeSpan.FromMinutes((_totalSteps - m.Step) / rate) : TimeSpan.Zero;
        var text = string.Create(CultureInfo.InvariantCulture,
            $"step {m.Step}/{_totalSteps} v{m.PolicyVersion} | acc {m.Accuracy:P0} len {m.MeanLength:F1} tools {m.MeanToolCalls:F2} | " +
            $"priority {m.PrioritySize} comp {m.CompensationSize} buffer {m.BufferSize} | {rate:F1} steps/min, eta {eta:mm\\:ss}");
        if (r.Eval is { } e) text += string.Create(CultureInfo.InvariantCulture, $" | eval acc {e.Accuracy:P1} len {e.MeanLength:F1}");
        if (_interactive)
        {
            _out.Write("\r" + text.PadRight(150));
            if (r.Eval is not null) _out.WriteLine();
        }
        else
        {
            _out.WriteLine(text);
        }
        _ = wall;
    }

    private IEnumerable<JsonNode> ReadMetrics()
    {
        if (!File.Exists(MetricsPath)) yield break;
        var n = 0;
        foreach (var text in File.ReadLines(MetricsPath))
        {
            n++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            JsonNode? node;
            try
            {
                node = JsonNode.Parse(text);
            }
            catch (JsonException)
            {
                // A line cut short by a crash mid-write: every complete line before it stands; this one is re-run.
                _out.WriteLine($"warning: {MetricsPath}:{n} is incomplete (interrupted write); dropping it");
                continue;
            }
            if (node?["step"] is not null) yield return node;
        }
    }

    private static HeldOutEvaluation EvalOf(JsonNode l) => new(
        l["step"]!.GetValue<long>(), l["eval_accuracy"]!.GetValue<double>(), l["eval_mean_length"]!.GetValue<double>(),
        l["eval_tool_calls"]?.GetValue<double>() ?? 0, l["eval_format_valid"]?.GetValue<double>() ?? 0, 0);

    private static JsonObject? Eval(HeldOutEvaluation? e) => e is null ? null : new JsonObject
    {
        ["step"] = e.Step,
        ["accuracy"] = e.Accuracy,
        ["mean_length"] = e.MeanLength,
        ["tool_calls"] = e.ToolCalls,
        ["format_valid"] = e.FormatValid,
    };

    private static double Change(double? from, double? to) =>
        from is { } a && to is { } b && a > 0 ? (b - a) / a * 100 : double.NaN;

    private static JsonNode? Finite(double x) => double.IsFinite(x) ? JsonValue.Create(Math.Round(x, 2)) : null;
}

/// <summary>The run stopped on an error an actor reported; the message says which and why.</summary>
public sealed class RunFailedException(string message) : Exception(message);
