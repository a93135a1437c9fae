using RoRecomp.Settings;
using RoRecomp.Training;
using RoRecomp.Training.Rollouts;
using RoRecomp.Model.Transformer;
using RoRecomp.Tasks;

namespace RoRecomp.Actors.Tests.Pipeline;

/// <summary>Small, fast pipeline settings and a randomly initialised micro policy saved as a warm-start checkpoint.</summary>
internal static class PipelineFixture
{
    /// <summary>Settings overrides of a short run (4 prompts x 4 samples, short responses, frequent checkpoints).</summary>
    public static List<string> Sets(string runDir, string warmStart, params string[] more) =>
    [
        $"run.run-dir={runDir}",
        "run.prompts-per-step=4",
        "run.samples-per-prompt=4",
        "run.lease-size=2",
        "run.eval-every=2",
        "run.eval-size=8",
        "sampling.max-new-tokens=24",
        "compensation.batch-size=6",
        "checkpoint.every=2",
        "policy-loss.lr=1e-3",
        $"model.checkpoint={warmStart}",
        .. more,
    ];

    /// <summary>Saves a seeded random micro policy (<see cref="Model.Transformer.TransformerConfig.Micro"/>) for <paramref name="task"/> into <paramref name="dir"/> and returns the checkpoint directory.</summary>
    public static string WarmStart(string dir, string task = "thinking", int seed = 1) =>
        Training.Steps.WarmStart.SaveRandomMicro(dir, task, seed);

    /// <summary>A pipeline context over <see cref="Sets"/>.</summary>
    public static RunContext Context(string runDir, string warmStart, long totalSteps = 4, params string[] more)
    {
        var settings = SettingsLoader.Load(null, Sets(runDir, warmStart, more));
        return new RunContext(settings, totalSteps, warmStart, RunContext.ReadModelConfig(warmStart));
    }
}
