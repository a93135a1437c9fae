using System.Diagnostics;
using System.Text.Json;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Rollouts;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Tokenizers;
using RoRecomp.Model.Training;
using RoRecomp.Model.Transformer;
using RoRecomp.Tasks;
using static TorchSharp.torch;

namespace RoRecomp.Training.Sft;

/// <summary>Settings of a supervised warm start.</summary>
/// <param name="Task">Task name (thinking, zero-rl, agentic, agentic-mixed).</param>
/// <param name="Seed">Seeds the model init, the trace sampling and evaluation.</param>
/// <param name="MaxSteps">Most optimizer steps.</param>
/// <param name="TargetAccuracy">Stop at the first evaluation whose sampled accuracy reaches this (null = train all steps).</param>
/// <param name="BatchSize">Traces per step.</param>
/// <param name="LearningRate">Peak learning rate (warm-up 20 steps, cosine to 10%).</param>
/// <param name="EvalEvery">Steps between evaluations.</param>
/// <param name="EvalPrompts">Held-out prompts per evaluation (one sample each, temperature 1).</param>
/// <param name="MaxResponseTokens">Response budget when sampling.</param>
/// <param name="Model">Model shape; null = the tiny preset for the task's vocabulary.</param>
public sealed record SftOptions(
    string Task = "thinking",
    int Seed = 1,
    int MaxSteps = 600,
    double? TargetAccuracy = null,
    int BatchSize = 64,
    double LearningRate = 2e-3,
    int EvalEvery = 50,
    int EvalPrompts = 128,
    int MaxResponseTokens = 96,
    TransformerConfig? Model = null);

/// <summary>Held-out figures of the policy on a task (sampled, one response per prompt).</summary>
/// <param name="Accuracy">Share of correct responses.</param>
/// <param name="MeanLength">Mean response length in tokens.</param>
/// <param name="ToolCalls">Mean tool calls per response.</param>
/// <param name="FormatValid">Share of responses in the task's exact format.</param>
/// <param name="UnnecessaryToolCalls">Mean unnecessary tool calls per response for a task that audits them (<see cref="IToolCallAudit"/>), else null.</param>
public sealed record EvalResult(double Accuracy, double MeanLength, double ToolCalls, double FormatValid, double? UnnecessaryToolCalls = null);

/// <summary>
/// Supervised warm start: trains a fresh policy on a task's traces until a target sampled accuracy (or a step budget),
/// evaluating on the test split, then writes a checkpoint (<c>&lt;run-dir&gt;/sft/</c>) that <c>train</c> starts from,
/// and <c>&lt;run-dir&gt;/sft-summary.json</c>. Seeded and reproducible.
/// </summary>
public static class SftRunner
{
    /// <summary>The checkpoint folder inside a run directory.</summary>
    public static string CheckpointDirectory(string runDir) => Path.Combine(runDir, "sft");

    /// <summary>
    /// Runs SFT; <paramref name="progress"/> gets (step, total, loss, last eval or null). <paramref name="cancellationToken"/>
    /// stops it between steps (<see cref="OperationCanceledException"/>, no checkpoint written: a warm start is redone whole).
    /// </summary>
    public static SftSummary Run(
        string runDir, SftOptions o, Action<int, int, double, EvalResult?>? progress = null, CancellationToken cancellationToken = default)
    {
        TorchRuntime.EnsureLoaded();
        var sw = Stopwatch.StartNew();
        var task = TaskRegistry.Create(o.Task, new TaskSettings(Seed: o.Seed));
        var tokenizer = EpisodeRunner.TokenizerFor(task);
        TorchRuntime.ManualSeed(o.Seed);
        var config = o.Model ?? TransformerConfig.Tiny(tokenizer.VocabSize);
        if (config.VocabSize < tokenizer.VocabSize)
            throw new ArgumentException($"model vocabulary {config.VocabSize} is smaller than the tokenizer's {tokenizer.VocabSize}");
        using var model = new PolicyTransformer(config);
        using var trainer = new PolicyTrainer(model,
            new OptimizerOptions(LearningRate: o.LearningRate, WarmupSteps: 20, TotalSteps: o.MaxSteps, MicroBatchSize: o.BatchSize),
            new PolicyLossOptions(), tokenizer.PadId);
        var rng = new Random(o.Seed);
        var trainCount = task.DistinctPrompts(Split.Train);
        var evalPrompts = task.Prompts(Split.Test, 0, (int)Math.Min(o.EvalPrompts, task.DistinctPrompts(Split.Test))).ToList();
        EvalResult? last = null;
        var step = 0;
        while (step < o.MaxSteps)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var batch = new List<(int[], int[])>(o.BatchSize);
            for (var i = 0; i < o.BatchSize; i++)
            {
                var prompt = task.GetPrompt(Split.Train, ((long)step * o.BatchSize + i) % Math.Max(1, trainCount));
                var target = tokenizer.Encode(task.Trace(prompt, rng));
                if (target.Length == 0 || target[^1] != tokenizer.EosId) target = [.. target, tokenizer.EosId];
                batch.Add((tokenizer.Encode(prompt.Text), target));
            }
            var m = trainer.SftStep(batch);
            step++;
            var evalNow = step % o.EvalEvery == 0 || step == o.MaxSteps;
            if (evalNow) last = Evaluate(model, task, evalPrompts, o.MaxResponseTokens, o.Seed + step);
            progress?.Invoke(step, o.MaxSteps, m.Loss, evalNow ? last : null);
            if (evalNow && o.TargetAccuracy is { } target2 && last!.Accuracy >= target2) break;
        }
        last ??= Evaluate(model, task, evalPrompts, o.MaxResponseTokens, o.Seed + step);

        var store = new CheckpointStore(CheckpointDirectory(runDir), keepLast: 1);
        var path = store.Save(step, 0, model.state_dict(), trainer.Optimizer.StateDict(), JsonSerializer.Serialize(config), RngState.Capture(),
            new Dictionary<string, string> { ["task"] = o.Task, ["kind"] = "sft", ["seed"] = o.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var summary = new SftSummary(o.Task, step, last.Accuracy, last.MeanLength, last.ToolCalls, last.FormatValid, o.Seed,
            config.ParameterCount(), sw.Elapsed.TotalSeconds, Path.GetRelativePath(runDir, path));
        RunFiles.WriteSftSummary(runDir, summary);
        return summary;
    }

    /// <summary>
    /// Sampled (temperature 1) held-out accuracy, mean response length in tokens, tool calls (and unnecessary ones, for a
    /// task that audits them) and format validity, over
    /// <paramref name="samplesPerPrompt"/> responses per prompt (more samples when the held-out split is small).
    /// </summary>
    public static EvalResult Evaluate(PolicyTransformer model, IRlTask task, IReadOnlyList<TaskPrompt> prompts, int maxResponseTokens, long seed, int samplesPerPrompt = 1, ITokenizer? tokenizer = null)
    {
        var episodes = EpisodeRunner.Run(model, tokenizer ?? EpisodeRunner.TokenizerFor(task), task, prompts, samplesPerPrompt, maxResponseTokens, 1.0, 1.0, 0, seed);
        return new EvalResult(
            episodes.Average(e => e.Verdict.Correct ? 1.0 : 0.0),
            episodes.Average(e => (double)e.Tokens.Length),
            episodes.Average(e => (double)e.Verdict.ToolCalls),
            episodes.Average(e => e.Verdict.FormatValid ? 1.0 : 0.0),
            task is IToolCallAudit audit ? episodes.Average(e => (double)audit.UnnecessaryCalls(e.Prompt, e.Text)) : null);
    }

}
