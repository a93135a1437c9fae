using System.Globalization;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.HuggingFace;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;
using RoRecomp.Settings;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Sft;
using RoRecomp.Tasks;

namespace RoRecomp.Training.Steps;

/// <summary>
/// The policy a run starts from: a Hugging Face directory (<c>model.source = hf</c>), a configured checkpoint, or a
/// supervised warm start made when there is none.
/// </summary>
public static class WarmStart
{
    /// <summary>
    /// The warm-start directory: with <c>model.source = hf</c> and no <c>model.checkpoint</c> the model directory
    /// (<c>model.path</c>, verified: files, architecture, tensor names, shapes and dtypes); else <c>rorecomp.model.checkpoint</c> when set (a checkpoint, or a
    /// folder of them), else <c>&lt;run-dir&gt;/sft</c>, trained now with <c>rorecomp.warm-start.*</c> if it holds no good checkpoint.
    /// </summary>
    public static string Prepare(RoRecompSettings settings, string runDir, TextWriter output, bool interactive, CancellationToken cancellationToken = default)
    {
        if (settings.Model.IsHuggingFace && settings.Model.Checkpoint.Length == 0)
        {
            var (directory, config) = VerifyHuggingFace(settings);
            output.WriteLine($"model: {directory} ({config.NumLayers} layers, hidden {config.HiddenSize}, vocabulary {config.VocabSize}, " +
                $"{config.ParameterCount() / 1e6:F1}M parameters) is the starting policy: no supervised warm start");
            return directory;
        }
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
        }, cancellationToken);
        progress.Message($"warm start done: {summary.Steps} steps in {summary.WallSeconds:F0} s, held-out accuracy {summary.EvalAccuracy:P1}, mean length {summary.EvalMeanLength:F1}");
        return Resolve(sftDir) ?? throw new InvalidOperationException($"SFT wrote no loadable checkpoint to {sftDir}");
    }

    /// <summary>How many prompts of each split <see cref="CheckFits"/> measures.</summary>
    private const int MeasuredPrompts = 64;

    /// <summary>
    /// Checks, before any work starts, that the policy the run will start from loads and that a prompt plus
    /// <c>rorecomp.sampling.max-new-tokens</c> fits its positions (max_position_embeddings): the configured checkpoint's
    /// or the existing warm start's model shape, else the tiny preset a fresh warm start trains. The task's first
    /// prompts of each split stand for its prompt length (every prompt of a <c>jsonl</c> dataset). With
    /// <c>model.source = hf</c>: the directory is verified (<see cref="HfCheckpoint.Verify"/>) and its tokenizer must fit
    /// its vocabulary. Throws a <see cref="SettingsException"/> naming the key; returns the task it built (measured).
    /// </summary>
    /// <param name="settings">The run's settings.</param>
    /// <param name="runDir">The run directory (where a warm start is, or will be, made).</param>
    public static IRlTask CheckFits(RoRecompSettings settings, string runDir)
    {
        var config = TransformerConfig.Tiny(1);   // replaced below: the directory's, the checkpoint's or the tiny preset's shape
        var what = "";
        var fromDirectory = settings.Model.IsHuggingFace && settings.Model.Checkpoint.Length == 0;
        if (fromDirectory)
        {
            (var directory, var shape) = VerifyHuggingFace(settings);   // first: the task's prompt and tokenizer come from it
            (config, what) = (shape, $"the model {directory}");
        }
        var task = RunContext.CreateTask(settings);
        var tokenizer = RunContext.CreateTokenizer(settings, task);
        if (!fromDirectory)
        {
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
        }
        if (tokenizer.VocabSize > config.VocabSize)
        {
            throw new SettingsException(settings.Model.IsHuggingFace
                ? $"rorecomp.model.path = {settings.Model.Path}: tokenizer.json has {tokenizer.VocabSize} ids but {what} has a vocabulary of {config.VocabSize}"
                : $"rorecomp.run.task = {task.Name}: its tokenizer has {tokenizer.VocabSize} ids but {what} has a vocabulary of {config.VocabSize}");
        }
        var longest = 0;
        var measured = task.Name == "jsonl" ? MeasuredDatasetPrompts : MeasuredPrompts;   // a dataset's prompts differ in length: all of them
        foreach (var split in new[] { Split.Train, Split.Test })
        {
            var count = (int)Math.Min(measured, task.DistinctPrompts(split));
            for (var i = 0; i < count; i++) longest = Math.Max(longest, tokenizer.Encode(task.GetPrompt(split, i).Text).Length);
        }
        var maxNew = settings.Sampling.MaxNewTokens;
        if (longest >= config.MaxPositions)
        {
            throw new SettingsException(
                $"{(task.Name == "jsonl" ? $"rorecomp.task.train-path = {settings.TaskData.TrainPath}" : $"rorecomp.run.task = {task.Name}")}: a prompt takes {longest} tokens, " +
                $"more than the {config.MaxPositions} positions (max_position_embeddings) of {what}; shorten the prompts (task.prompt-template, task.system-prompt) or drop the long rows");
        }
        if (longest + maxNew > config.MaxPositions)
        {
            throw new SettingsException(
                $"rorecomp.sampling.max-new-tokens = {maxNew}: a {settings.Run.Task} prompt takes up to {longest} tokens and {what} has " +
                $"{config.MaxPositions} positions (max_position_embeddings), so at most {Math.Max(0, config.MaxPositions - longest)} new tokens fit");
        }
        return task;
    }

    /// <summary>How many prompts of each split of a dataset (<c>jsonl</c>) <see cref="CheckFits"/> measures: all of a GSM8K- or MATH-sized file.</summary>
    private const int MeasuredDatasetPrompts = 20_000;

    /// <summary>True when <paramref name="directory"/> is a Hugging Face model directory (config.json, no RoRecomp manifest).</summary>
    public static bool IsHuggingFaceDirectory(string directory) =>
        File.Exists(Path.Combine(directory, "config.json")) && !File.Exists(Path.Combine(directory, "manifest.json"));

    /// <summary>
    /// The Hugging Face directory of <c>model.path</c> (full path) and its shape, checked without loading the weights
    /// (<see cref="HfCheckpoint.Verify"/>); anything wrong is a <see cref="SettingsException"/> naming the key and the fault.
    /// </summary>
    private static (string Directory, TransformerConfig Config) VerifyHuggingFace(RoRecompSettings settings)
    {
        var directory = Path.GetFullPath(settings.Model.Path);
        try
        {
            if (!Directory.Exists(directory)) throw new CheckpointException($"{directory}: no such directory (download the model first; every node that samples or trains reads it)");
            var config = HfCheckpoint.ReadConfig(directory);
            HfCheckpoint.Verify(directory, config);
            return (directory, config);
        }
        catch (Exception e) when (e is CheckpointException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException or InvalidOperationException)
        {
            throw new SettingsException($"rorecomp.model.path = {settings.Model.Path}: {e.Message}", e);
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
        SaveRandom(directory, task, TransformerConfig.Micro(Rollouts.EpisodeRunner.TokenizerFor(TaskRegistry.Create(task, new TaskSettings(Seed: seed))).VocabSize), seed);


    /// <summary>
    /// Loads the warm start's weights into <paramref name="model"/>: a Hugging Face directory's safetensors (bf16/fp16
    /// converted to the model's dtype, fp32 for the learner), else the checkpoint's (verified).
    /// </summary>
    public static void Load(PolicyTransformer model, string warmStart)
    {
        if (IsHuggingFaceDirectory(warmStart))
        {
            HfModelLoader.LoadInto(model, warmStart);
            return;
        }
        using var warm = CheckpointStore.Load(warmStart);
        StateDicts.Load(model, warm.Model, strict: true, warm.Path);
    }
}
