using System.Text.Json.Serialization;
using RoRecomp.Training.Steps;

namespace RoRecomp.Training.Runs;

/// <summary>
/// One line of <c>metrics.jsonl</c>: a step's online, learner and held-out figures, its cursor and times. Written by
/// <see cref="RunFiles.AppendMetrics"/> in this order with these names (snake_case); the held-out keys and the
/// checkpoint are omitted when the step had none. Keys missing from a line read as 0 (the held-out ones as null).
/// </summary>
/// <param name="Step">The step (1-based).</param>
/// <param name="PolicyVersion">Policy version after the step's update.</param>
/// <param name="Accuracy">Share of correct responses in the online batch.</param>
/// <param name="MeanLength">Mean response length (tokens) of the online batch.</param>
/// <param name="MeanLengthCorrect">Mean length of its correct responses (0 when none).</param>
/// <param name="ToolCalls">Mean tool calls per response.</param>
/// <param name="FormatValid">Share of responses in the task's exact format.</param>
/// <param name="Responses">Responses in the online batch.</param>
/// <param name="PrioritySize">Responses in the priority batch.</param>
/// <param name="ShortCorrect">Short correct responses in it.</param>
/// <param name="LongIncorrect">Long incorrect responses in it.</param>
/// <param name="CompensationSize">Responses drawn from the replay buffer.</param>
/// <param name="BufferSize">Responses held by the buffer after the step.</param>
/// <param name="MinPolicyVersion">Oldest behaviour policy version in the batch.</param>
/// <param name="PolicyLag">Versions that policy lagged the one it trained into.</param>
/// <param name="Loss">Priority batch loss.</param>
/// <param name="Entropy">Policy entropy (nats per token).</param>
/// <param name="ClipFraction">Share of clipped ratios.</param>
/// <param name="ApproxKl">Approximate KL to the behaviour policy.</param>
/// <param name="GradNorm">Gradient norm before clipping.</param>
/// <param name="LearningRate">Learning rate (<c>lr</c>).</param>
/// <param name="CompensationLoss">Compensation batch loss (0 when none).</param>
/// <param name="CompensationWeight">The schedule's compensation weight (0 when no batch).</param>
/// <param name="Cursor">Data cursor after the step.</param>
/// <param name="StepSeconds">Wall seconds of the step (<c>step_s</c>, ms resolution).</param>
/// <param name="TrainSeconds">Seconds the learner spent (<c>train_s</c>, ms resolution).</param>
/// <param name="WallSeconds">Wall seconds since the run started (<c>wall_s</c>, ms resolution).</param>
/// <param name="EvalAccuracy">Held-out accuracy after the step, when evaluated.</param>
/// <param name="EvalMeanLength">Held-out mean length, when evaluated.</param>
/// <param name="EvalToolCalls">Held-out tool calls per response, when evaluated.</param>
/// <param name="EvalFormatValid">Held-out format validity, when evaluated.</param>
/// <param name="Checkpoint">The checkpoint committed after the step, relative to the run directory, or null.</param>
/// <param name="EvalUnnecessaryToolCalls">Held-out unnecessary tool calls per response, when evaluated on a task that audits them.</param>
public sealed record MetricsLine(
    long Step,
    long PolicyVersion,
    double Accuracy,
    double MeanLength,
    double MeanLengthCorrect,
    double ToolCalls,
    double FormatValid,
    int Responses,
    int PrioritySize,
    int ShortCorrect,
    int LongIncorrect,
    int CompensationSize,
    int BufferSize,
    long MinPolicyVersion,
    long PolicyLag,
    double Loss,
    double Entropy,
    double ClipFraction,
    double ApproxKl,
    double GradNorm,
    [property: JsonPropertyName("lr")] double LearningRate,
    double CompensationLoss,
    double CompensationWeight,
    long Cursor,
    [property: JsonPropertyName("step_s")] double StepSeconds,
    [property: JsonPropertyName("train_s")] double TrainSeconds,
    [property: JsonPropertyName("wall_s")] double WallSeconds,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? EvalAccuracy = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? EvalMeanLength = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? EvalToolCalls = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? EvalFormatValid = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Checkpoint = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? EvalUnnecessaryToolCalls = null)
{
    /// <summary>
    /// The line of a step: <paramref name="wallSeconds"/> since the run started, its checkpoint relative to
    /// <paramref name="runDir"/>, times rounded to milliseconds.
    /// </summary>
    public static MetricsLine From(StepRecord r, double wallSeconds, string runDir)
    {
        var m = r.Online;
        var l = r.Learner;
        var e = r.Eval;
        return new MetricsLine(
            m.Step, m.PolicyVersion, m.Accuracy, m.MeanLength, m.MeanLengthCorrect, m.MeanToolCalls, m.FormatValid, m.Responses,
            m.PrioritySize, m.ShortCorrect, m.LongIncorrect, m.CompensationSize, m.BufferSize, m.MinPolicyVersion, m.PolicyLag,
            l.Loss, l.Entropy, l.ClipFraction, l.ApproxKl, l.GradNorm, l.LearningRate, l.CompensationLoss, l.CompensationWeight,
            r.Cursor, Math.Round(r.StepSeconds, 3), Math.Round(l.TrainSeconds, 3), Math.Round(wallSeconds, 3),
            e?.Accuracy, e?.MeanLength, e?.ToolCalls, e?.FormatValid,
            r.Checkpoint is null ? null : Path.GetRelativePath(runDir, r.Checkpoint), e?.UnnecessaryToolCalls);
    }

    /// <summary>The step's held-out evaluation (tool calls and format validity 0 when the line lacks them), or null when it had none.</summary>
    public HeldOutEvaluation? Evaluation() =>
        EvalAccuracy is { } accuracy && EvalMeanLength is { } length
            ? new HeldOutEvaluation(Step, accuracy, length, EvalToolCalls ?? 0, EvalFormatValid ?? 0, 0, EvalUnnecessaryToolCalls)
            : null;
}

/// <summary>A held-out evaluation as <c>summary.json</c> holds it (the warm start's and the final one).</summary>
/// <param name="Step">The step evaluated after (0 = the warm start).</param>
/// <param name="Accuracy">Share of correct responses.</param>
/// <param name="MeanLength">Mean response length in tokens.</param>
/// <param name="ToolCalls">Mean tool calls per response.</param>
/// <param name="FormatValid">Share of responses in the task's exact format.</param>
/// <param name="UnnecessaryToolCalls">Mean unnecessary tool calls per response, for a task that audits them.</param>
public sealed record SummaryEvaluation(
    long Step, double Accuracy, double MeanLength, double ToolCalls, double FormatValid,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? UnnecessaryToolCalls = null)
{
    /// <summary>The figures of <paramref name="e"/>, or null.</summary>
    public static SummaryEvaluation? From(HeldOutEvaluation? e) =>
        e is null ? null : new SummaryEvaluation(e.Step, e.Accuracy, e.MeanLength, e.ToolCalls, e.FormatValid, e.UnnecessaryToolCalls);
}

/// <summary>
/// <c>summary.json</c>: the end-of-run comparison of the final held-out evaluation with the warm start's. Every key is
/// written, null when unknown (no evaluation, or a change that is not finite).
/// </summary>
/// <param name="Task">The run's task.</param>
/// <param name="Recomposition">Whether RoRecomp recomposition was on.</param>
/// <param name="Steps">The last step trained.</param>
/// <param name="WallSeconds">Wall seconds of the run, resumes included (<c>wall_s</c>, 0.1 s resolution).</param>
/// <param name="WarmStart">The warm start's held-out evaluation, or null.</param>
/// <param name="Final">The last held-out evaluation, or null.</param>
/// <param name="LengthChangePercent">Mean length change relative to the warm start, in percent (2 decimals).</param>
/// <param name="AccuracyChangePoints">Accuracy change, in percentage points (2 decimals).</param>
/// <param name="ToolCallsChangePercent">Tool calls change relative to the warm start, in percent (2 decimals).</param>
public sealed record RunSummaryFile(
    string Task, bool Recomposition, long Steps, [property: JsonPropertyName("wall_s")] double WallSeconds,
    SummaryEvaluation? WarmStart, SummaryEvaluation? Final,
    double? LengthChangePercent, double? AccuracyChangePoints, double? ToolCallsChangePercent)
{
    /// <summary>The file form of <paramref name="s"/>, whose figures come from <paramref name="warmStart"/> and <paramref name="final"/>.</summary>
    public static RunSummaryFile From(RunSummary s, HeldOutEvaluation? warmStart, HeldOutEvaluation? final) => new(
        s.Task, s.Recomposition, s.Steps, Math.Round(s.WallSeconds, 1), SummaryEvaluation.From(warmStart), SummaryEvaluation.From(final),
        Finite(s.LengthChangePercent), Finite(s.AccuracyChangePoints), Finite(s.ToolCallsChangePercent));

    private static double? Finite(double x) => double.IsFinite(x) ? Math.Round(x, 2) : null;
}

/// <summary><c>sft-summary.json</c>: what a supervised warm start reached.</summary>
/// <param name="Task">The task trained on.</param>
/// <param name="Steps">Optimizer steps taken.</param>
/// <param name="EvalAccuracy">Held-out sampled accuracy of the last evaluation.</param>
/// <param name="EvalMeanLength">Its mean response length in tokens.</param>
/// <param name="EvalToolCalls">Its tool calls per response.</param>
/// <param name="EvalFormatValid">Its share of responses in the task's exact format.</param>
/// <param name="Seed">The seed.</param>
/// <param name="Parameters">Model parameters.</param>
/// <param name="WallSeconds">Wall seconds (<c>wall_s</c>).</param>
/// <param name="Checkpoint">The checkpoint written, relative to the run directory.</param>
public sealed record SftSummary(
    string Task, int Steps, double EvalAccuracy, double EvalMeanLength, double EvalToolCalls, double EvalFormatValid, int Seed,
    long Parameters, [property: JsonPropertyName("wall_s")] double WallSeconds, string Checkpoint);
