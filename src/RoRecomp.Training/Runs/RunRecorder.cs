using RoRecomp.Training.Steps;
using System.Diagnostics;
using System.Globalization;

namespace RoRecomp.Training.Runs;

/// <summary>The end-of-run comparison of a run (<c>summary.json</c> holds its <see cref="RunSummaryFile"/> form); NaN where unknown.</summary>
public sealed record RunSummary(
    string Task, bool Recomposition, long Steps, double WallSeconds,
    double WarmStartAccuracy, double WarmStartMeanLength, double WarmStartToolCalls,
    double FinalAccuracy, double FinalMeanLength, double FinalToolCalls,
    double LengthChangePercent, double AccuracyChangePoints, double ToolCallsChangePercent);

/// <summary>
/// The run's record keeper: appends one line per step to <c>metrics.jsonl</c> (on resume, lines after the step resumed
/// from are dropped first, because those steps run again: each step is written once), keeps the warm-start evaluation
/// in <c>eval-baseline.json</c>, writes <c>summary.json</c> at the end (all through <see cref="RunFiles"/>) and shows a
/// live progress line. When TensorBoard output is on it also writes every step's figures (<c>train/*</c>) and every
/// held-out evaluation (<c>eval/*</c>, the warm start's at step 0) to a new event file in <c>&lt;run-dir&gt;/tensorboard</c>. <see cref="Completion"/> completes when the run finishes or fails.
/// </summary>
public sealed class RunRecorder : IRunReporter
{
    private readonly string _runDir;
    private readonly string _task;
    private readonly bool _recomposition;
    private readonly bool _tensorBoard;
    private readonly TextWriter _out;
    private readonly ProgressLine _progress;
    private readonly TaskCompletionSource<RunSummary> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Stopwatch _clock = new();
    private long _totalSteps;
    private long _firstStep;
    private double _wallBase;
    private HeldOutEvaluation? _baseline;
    private HeldOutEvaluation? _lastEval;
    private long _lastStep;
    private TensorBoardWriter? _events;

    /// <summary>The folder of the run's TensorBoard event files, under the run directory.</summary>
    public const string TensorBoardDir = "tensorboard";

    /// <summary>
    /// A recorder for the run in <paramref name="runDir"/>, printing progress to <paramref name="output"/>; with
    /// <paramref name="tensorBoard"/> it also writes TensorBoard event files (<c>rorecomp.run.tensorboard</c>).
    /// </summary>
    public RunRecorder(string runDir, string task, bool recomposition, TextWriter output, bool interactive, bool tensorBoard)
    {
        _runDir = runDir;
        _task = task;
        _recomposition = recomposition;
        _tensorBoard = tensorBoard;
        _out = output;
        _progress = new ProgressLine(output, interactive, 150);
    }

    /// <summary>Completes with the summary when the run finishes; faults with <see cref="RunFailedException"/> when it fails.</summary>
    public Task<RunSummary> Completion => _completion.Task;

    /// <inheritdoc />
    public void Started(RunStart start)
    {
        _clock.Start();
        _totalSteps = start.TotalSteps;
        var fromStep = start.From?.Step ?? 0;
        _firstStep = fromStep;
        _lastStep = fromStep;
        var kept = RunFiles.KeepMetricsThrough(_runDir, fromStep, (n, fault) =>
            _out.WriteLine($"warning: {RunFiles.PathOf(_runDir, RunFiles.MetricsFile)}:{n} " + (fault == MetricsLineFault.NotJson
                ? "is incomplete (interrupted write); dropping it"
                : "is not a metrics line; dropping it")));
        _wallBase = kept.Count > 0 ? kept[^1].WallSeconds : 0;
        _lastEval = kept.LastOrDefault(l => l.EvalAccuracy is not null)?.Evaluation();
        _baseline = RunFiles.ReadBaseline(_runDir);
        if (_tensorBoard)
        {
            _events?.Dispose();
            _events = new TensorBoardWriter(Path.Combine(_runDir, TensorBoardDir));
            if (start.From is not null) _events.Restart(fromStep + 1);
        }
        foreach (var s in start.Skipped) _out.WriteLine($"warning: checkpoint skipped: {s}");
        _out.WriteLine(start.From is { } from
            ? $"resuming from step {from.Step} (policy v{from.PolicyVersion}, {from.Path}); {_totalSteps - from.Step} steps to go"
            : $"starting from the warm start; {_totalSteps} steps");
    }

    /// <inheritdoc />
    public void Baseline(HeldOutEvaluation evaluation)
    {
        _baseline = evaluation;
        RunFiles.WriteBaseline(_runDir, evaluation);
        _events?.Scalars(evaluation.Step, EvalScalars(evaluation));
        _progress.Message($"warm start (held-out, {evaluation.Responses} responses): accuracy {evaluation.Accuracy:P1}, mean length {evaluation.MeanLength:F1} tokens, tool calls {evaluation.ToolCalls:F2}");
    }

    /// <inheritdoc />
    public void StepCompleted(StepRecord r)
    {
        var line = MetricsLine.From(r, _wallBase + _clock.Elapsed.TotalSeconds, _runDir);
        RunFiles.AppendMetrics(_runDir, line);
        _events?.Scalars(line.Step, TrainScalars(line));
        if (r.Eval is { } e)
        {
            _lastEval = e;
            _events?.Scalars(line.Step, EvalScalars(e));
        }
        _lastStep = r.Online.Step;
        Progress(r);
    }

    /// <inheritdoc />
    public void Notice(string message) => _progress.Message(message);

    /// <inheritdoc />
    public void Finished()
    {
        _progress.End();
        var b = _baseline;
        var f = _lastEval;
        var summary = new RunSummary(
            _task, _recomposition, _lastStep, _wallBase + _clock.Elapsed.TotalSeconds,
            b?.Accuracy ?? double.NaN, b?.MeanLength ?? double.NaN, b?.ToolCalls ?? double.NaN,
            f?.Accuracy ?? double.NaN, f?.MeanLength ?? double.NaN, f?.ToolCalls ?? double.NaN,
            Change(b?.MeanLength, f?.MeanLength), ((f?.Accuracy ?? double.NaN) - (b?.Accuracy ?? double.NaN)) * 100,
            Change(b?.ToolCalls, f?.ToolCalls));
        RunFiles.WriteSummary(_runDir, RunSummaryFile.From(summary, b, f));
        CloseEvents();
        _completion.TrySetResult(summary);
    }

    /// <inheritdoc />
    public void Failed(string reason) => End(new RunFailedException(reason));

    /// <inheritdoc />
    public void Interrupted(string reason) => End(new RunFailedException(reason) { JournalLost = true });

    private void End(RunFailedException failure)
    {
        _progress.End();
        CloseEvents();
        _completion.TrySetException(failure);
    }

    private void Progress(StepRecord r)
    {
        var m = r.Online;
        var done = m.Step - _firstStep;
        var rate = done / Math.Max(_clock.Elapsed.TotalMinutes, 1e-9);
        var eta = rate > 0 ? TimeSpan.FromMinutes((_totalSteps - m.Step) / rate) : TimeSpan.Zero;
        var text = string.Create(CultureInfo.InvariantCulture,
            $"step {m.Step}/{_totalSteps} v{m.PolicyVersion} | acc {m.Accuracy:P0} len {m.MeanLength:F1} tools {m.MeanToolCalls:F2} | " +
            $"priority {m.PrioritySize} comp {m.CompensationSize} buffer {m.BufferSize} | {rate:F1} steps/min, eta {eta:mm\\:ss}");
        if (r.Eval is { } e) text += string.Create(CultureInfo.InvariantCulture, $" | eval acc {e.Accuracy:P1} len {e.MeanLength:F1}");
        _progress.Show(text, keep: r.Eval is not null);
    }

    private void CloseEvents()
    {
        _events?.Dispose();
        _events = null;
    }

    /// <summary>A step's figures as <c>train/&lt;metrics.jsonl key&gt;</c> scalars (the held-out ones go under <c>eval/</c>).</summary>
    private static (string, double)[] TrainScalars(MetricsLine l) =>
    [
        ("train/accuracy", l.Accuracy), ("train/mean_length", l.MeanLength), ("train/mean_length_correct", l.MeanLengthCorrect),
        ("train/tool_calls", l.ToolCalls), ("train/format_valid", l.FormatValid), ("train/responses", l.Responses),
        ("train/priority_size", l.PrioritySize), ("train/short_correct", l.ShortCorrect), ("train/long_incorrect", l.LongIncorrect),
        ("train/compensation_size", l.CompensationSize), ("train/buffer_size", l.BufferSize), ("train/policy_version", l.PolicyVersion),
        ("train/policy_lag", l.PolicyLag), ("train/loss", l.Loss), ("train/entropy", l.Entropy), ("train/clip_fraction", l.ClipFraction),
        ("train/approx_kl", l.ApproxKl), ("train/grad_norm", l.GradNorm), ("train/lr", l.LearningRate),
        ("train/compensation_loss", l.CompensationLoss), ("train/compensation_weight", l.CompensationWeight),
        ("train/step_s", l.StepSeconds), ("train/train_s", l.TrainSeconds),
    ];

    /// <summary>A held-out evaluation as <c>eval/*</c> scalars.</summary>
    private static (string, double)[] EvalScalars(HeldOutEvaluation e) =>
    [
        ("eval/accuracy", e.Accuracy), ("eval/mean_length", e.MeanLength), ("eval/tool_calls", e.ToolCalls), ("eval/format_valid", e.FormatValid),
        .. e.UnnecessaryToolCalls is { } u ? [("eval/unnecessary_tool_calls", u)] : Array.Empty<(string, double)>(),
    ];

    private static double Change(double? from, double? to) =>
        from is { } a && to is { } b && a > 0 ? (b - a) / a * 100 : double.NaN;
}

/// <summary>The run stopped on an error an actor reported; the message says which and why.</summary>
public sealed class RunFailedException(string message) : Exception(message)
{
    /// <summary>
    /// The run stopped only because its journal could not be reached (<see cref="IRunReporter.Interrupted"/>): starting
    /// it again from its last commit once the database is back continues it where it was.
    /// </summary>
    public bool JournalLost { get; init; }
}
