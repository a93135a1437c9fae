using System.Diagnostics;
using System.Globalization;
using RoRecomp.Core.IO;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Runtime;
using RoRecomp.Settings;
using RoRecomp.Training.Steps;

namespace RoRecomp.Training.Runs;

/// <summary>What <c>rorecomp eval</c> was asked for.</summary>
/// <param name="RunDir">The run whose latest good checkpoint is evaluated (default <c>rorecomp.run.run-dir</c>); with
/// <paramref name="Checkpoint"/>, where the run's settings (<c>run.conf</c>) are read from.</param>
/// <param name="Checkpoint">A checkpoint directory (<c>.../checkpoints/step-000120</c>) to evaluate instead of the run's latest.</param>
/// <param name="Out">A JSON file to write the evaluation to (<c>eval-baseline.json</c>'s form), or null.</param>
/// <param name="EvalSize">Responses to sample instead of the run's <c>run.eval-size</c>, or null.</param>
public sealed record EvalOptions(string? RunDir = null, string? Checkpoint = null, string? Out = null, int? EvalSize = null);

/// <summary>
/// <c>rorecomp eval</c>: the held-out evaluation a run makes every <c>run.eval-every</c> steps
/// (<see cref="HeldOutEvaluation.Run"/>: same prompts, same seed, same sampling), of any checkpoint of a finished or
/// stopped run. With the run's own settings it gives the figures the run recorded at that step, so a metric added
/// since (such as <c>unnecessary_tool_calls</c>) can be measured on checkpoints trained before it existed.
/// </summary>
public static class RunEvaluation
{
    /// <summary>
    /// Evaluates; throws <see cref="SettingsException"/> for a bad option or a run without <c>run.conf</c> and
    /// <see cref="CheckpointException"/> when there is no good checkpoint. Progress goes to <paramref name="output"/>.
    /// </summary>
    public static HeldOutEvaluation Run(EvalOptions o, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(output);
        if (o.EvalSize is < 1) throw new SettingsException($"--eval-size {o.EvalSize}: expected a positive number of responses");
        var (runDir, checkpointDir) = RunCheckpointSource.Locate(o.RunDir, o.Checkpoint);
        var settings = RunCheckpointSource.Settings(runDir)
            ?? throw new SettingsException($"eval needs the run's settings ({RunFiles.RunConfigFile}): " +
                (runDir is null ? $"none beside --checkpoint {checkpointDir}; give the run with --run-dir" : $"{runDir} has none"));
        if (o.EvalSize is { } size) settings = settings with { Run = settings.Run with { EvalSize = size } };

        TorchRuntime.EnsureLoaded();
        using var checkpoint = RunCheckpointSource.Load(runDir, checkpointDir, "eval", output);
        var config = RunContext.ModelConfigOf(checkpoint);
        var task = RunContext.CreateTask(settings);
        var tokenizer = RunContext.CreateTokenizer(settings, task);
        var step = checkpoint.Manifest.Step;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"eval: {checkpoint.Path} (step {step}, {config.ParameterCount():N0} parameters), task {task.Name}, {settings.Run.EvalSize} held-out responses"));
        var sw = Stopwatch.StartNew();
        using var model = PolicyFactory.Create(config, settings, PolicyCopy.Sampler);
        StateDicts.Load(model, checkpoint.Model, strict: true, checkpoint.Path);
        var evaluation = HeldOutEvaluation.Run(model, task, tokenizer, settings, step);
        var unnecessary = evaluation.UnnecessaryToolCalls is { } u ? string.Create(CultureInfo.InvariantCulture, $" ({u:F2} unnecessary)") : "";
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"eval step {step}: accuracy {evaluation.Accuracy:P1}, mean length {evaluation.MeanLength:F1} tokens, tool calls {evaluation.ToolCalls:F2}{unnecessary}, " +
            $"format valid {evaluation.FormatValid:P1} over {evaluation.Responses} responses ({sw.Elapsed.TotalSeconds:F0} s)"));
        if (o.Out is not null)
        {
            var path = Path.GetFullPath(o.Out);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            DurableFile.WriteAllText(path, RunFiles.FormatEvaluation(evaluation));
            output.WriteLine($"eval: wrote {path}");
        }
        return evaluation;
    }
}
