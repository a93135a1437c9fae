using System.Globalization;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;
using RoRecomp.Settings;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Sft;

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

    /// <summary>Loads the warm-start checkpoint's weights (verified) into <paramref name="model"/>.</summary>
    public static void Load(PolicyTransformer model, string warmStart)
    {
        using var warm = CheckpointStore.Load(warmStart);
        StateDicts.Load(model, warm.Model, strict: true, warm.Path);
    }
}
