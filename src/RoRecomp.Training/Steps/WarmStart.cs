using System.Globalization;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;
using RoRecomp.Settings;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Rollouts;
using RoRecomp.Training.Sft;
using RoRecomp.Tasks;

namespace RoRecomp.Training.Steps;

/// <summary>The policy a run starts from: a configured checkpoint, or a supervised warm start made when there is none.</summary>
public static class WarmStart
{
    /// <summary>
    /// The warm-start checkpoint directory: <c>rorecomp.model.checkpoint</c> when set (a checkpoint, or a folder of
    /// them), else <c>&lt;run-dir&gt;/sft</c>, trained now with <c>rorecomp.warm-start.*</c> if it holds no good checkpoint.
    /// </summary>
    public static string Prepare(RoRecompSettings settings, string runDir, TextWriter output, bool interactive)
    {
        if (settings.Model.Checkpoint.Length > 0)
        {
            return Resolve(settings.Model.Checkpoint)
                ?? throw new SettingsException($"rorecomp.model.checkpoint = {settings.Model.Checkpoint}: no loadable checkpoint there");
        }
        var sftDir = SftRunner.CheckpointDirectory(runDir);
        if (Resolve(sftDir) is { } existing) return existing;
        var w = settings.WarmStart;
        output.WriteLine($"no warm start in {sftDir}: supervised warm start on {settings.Run.Task} ({w.Steps} steps) first");
        var options = new SftOptions(
            Task: settings.Run.Task, Seed: settings.Run.Seed, MaxSteps: w.Steps, TargetAccuracy: w.TargetAccuracy > 0 ? w.TargetAccuracy : null,
            BatchSize: w.BatchSize, LearningRate: w.Lr, EvalEvery: Math.Max(1, Math.Min(50, w.Steps)), EvalPrompts: 128,
            MaxResponseTokens: settings.Sampling.MaxNewTokens);
        var progress = new ProgressLine(output, interactive, 100);
        var summary = SftRunner.Run(runDir, options, (step, total, loss, eval) =>
        {
            var line = string.Create(CultureInfo.InvariantCulture, $"sft {step}/{total} loss {loss:F3}");
            if (eval is not null) line += string.Create(CultureInfo.InvariantCulture, $" | eval acc {eval.Accuracy:P1} len {eval.MeanLength:F1}");
            progress.Show(line, keep: eval is not null, plain: step % 25 == 0);
        });
        progress.Message($"warm start done: {summary.Steps} steps in {summary.WallSeconds:F0} s, held-out accuracy {summary.EvalAccuracy:P1}, mean length {summary.EvalMeanLength:F1}");
        return Resolve(sftDir) ?? throw new InvalidOperationException($"SFT wrote no loadable checkpoint to {sftDir}");
    }

    /// <summary>How many prompts of each split <see cref="CheckFits"/> measures.</summary>
    private const int MeasuredPrompts = 64;

    /// <summary>
    /// Checks, before any work starts, that the policy the run will start from loads and that a prompt plus
    /// <c>rorecomp.sampling.max-new-tokens</c> fits its positions (max_position_embeddings): the configured checkpoint's
    /// or the existing warm start's model shape, else the tiny preset a fresh warm start trains. The task's first
    /// prompts of each split stand for its prompt length. Throws a <see cref="SettingsException"/> naming the key.
    /// </summary>
    /// <param name="settings">The run's settings.</param>
    /// <param name="runDir">The run directory (where a warm start is, or will be, made).</param>
    public static void CheckFits(RoRecompSettings settings, string runDir)
    {
        var task = TaskRegistry.Create(settings.Run.Task, new TaskSettings(Seed: settings.Run.Seed));
        var tokenizer = EpisodeRunner.TokenizerFor(task);
        TransformerConfig config;
        string what;
        try
        {
            var checkpoint = settings.Model.Checkpoint.Length > 0
                ? Resolve(settings.Model.Checkpoint) ?? throw new SettingsException($"rorecomp.model.checkpoint = {settings.Model.Checkpoint}: no loadable checkpoint there")
                : Resolve(SftRunner.CheckpointDirectory(runDir));
            config = checkpoint is null ? TransformerConfig.Tiny(tokenizer.VocabSize) : RunContext.ReadModelConfig(checkpoint);
            what = checkpoint is null ? "the tiny preset" : $"the warm start {checkpoint}";
        }
        catch (Exception e) when (e is CheckpointException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            throw new SettingsException($"the warm start does not load: {e.Message}", e);
        }
        var longest = 0;
        foreach (var split in new[] { Split.Train, Split.Test })
        {
            var count = (int)Math.Min(MeasuredPrompts, task.DistinctPrompts(split));
            for (var i = 0; i < count; i++) longest = Math.Max(longest, tokenizer.Encode(task.GetPrompt(split, i).Text).Length);
        }
        var maxNew = settings.Sampling.MaxNewTokens;
        if (longest + maxNew > config.MaxPositions)
        {
            throw new SettingsException(
                $"rorecomp.sampling.max-new-tokens = {maxNew}: a {settings.Run.Task} prompt takes up to {longest} tokens and {what} has " +
                $"{config.MaxPositions} positions (max_position_embeddings), so at most {Math.Max(0, config.MaxPositions - longest)} new tokens fit");
        }
    }

    /// <summary>A checkpoint directory, or the newest good checkpoint of a store folder, or null.</summary>
    public static string? Resolve(string path)
    {
        var full = Path.GetFullPath(path);
        if (!Directory.Exists(full)) return null;
        if (File.Exists(Path.Combine(full, "manifest.json")))
        {
            using var cp = CheckpointStore.Load(full);
            return cp.Path;
        }
        using var latest = new CheckpointStore(full, keepLast: int.MaxValue).LoadLatestGood(out _);
        return latest?.Path;
    }

    /// <summary>
    /// Saves a randomly initialised policy of shape <paramref name="config"/> (seeded by <paramref name="seed"/>) as a
    /// warm-start checkpoint in <paramref name="directory"/> and returns the checkpoint directory: a starting point for
    /// tests and benchmarks that measure the machinery rather than the policy.
    /// </summary>
    public static string SaveRandom(string directory, string task, TransformerConfig config, int seed)
    {
        TorchRuntime.EnsureLoaded();
        TorchRuntime.ManualSeed(seed);
        using var model = new PolicyTransformer(config);
        return new CheckpointStore(directory, keepLast: 1).Save(0, 0, model.state_dict(), [], PolicyWeights.ConfigJson(config), RngState.Capture(),
            new Dictionary<string, string> { ["task"] = task, ["kind"] = "random" });
    }

    /// <summary>Saves a seeded random <see cref="TransformerConfig.Micro"/> policy for <paramref name="task"/> (its tokenizer's vocabulary) as a warm start.</summary>
    public static string SaveRandomMicro(string directory, string task, int seed) =>
        SaveRandom(directory, task, TransformerConfig.Micro(EpisodeRunner.TokenizerFor(TaskRegistry.Create(task, new TaskSettings(Seed: seed))).VocabSize), seed);

    /// <summary>Loads the warm-start checkpoint's weights (verified) into <paramref name="model"/>.</summary>
    public static void Load(PolicyTransformer model, string warmStart)
    {
        using var warm = CheckpointStore.Load(warmStart);
        StateDicts.Load(model, warm.Model, strict: true, warm.Path);
    }
}
