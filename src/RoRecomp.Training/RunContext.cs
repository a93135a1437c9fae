using System.Text.Json;
using RoRecomp.Settings;
using RoRecomp.Training.Rollouts;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Tokenizers;
using RoRecomp.Model.Transformer;
using RoRecomp.Tasks;

namespace RoRecomp.Training;

/// <summary>
/// What every actor of one run needs besides its messages: the settings, the run's length, the warm-start checkpoint
/// and the model shape. Each actor builds its own task, tokenizer and model from it (TorchSharp modules are not
/// thread-safe, so no two actors share one).
/// </summary>
/// <param name="Settings">The run's settings.</param>
/// <param name="TotalSteps">Steps to train in all (run.steps, or --steps).</param>
/// <param name="WarmStart">Warm-start checkpoint directory (the SFT output).</param>
/// <param name="ModelConfig">The policy's shape, from the warm-start checkpoint (learner nodes; samplers get it with the weights).</param>
public sealed record RunContext(RoRecompSettings Settings, long TotalSteps, string WarmStart, TransformerConfig? ModelConfig)
{
    /// <summary>Where the learner writes its checkpoints.</summary>
    public string CheckpointDirectory => CheckpointDirectoryOf(Settings.Run.RunDir);

    /// <summary>Where the learner of the run in <paramref name="runDir"/> writes its checkpoints.</summary>
    public static string CheckpointDirectoryOf(string runDir) => Path.Combine(runDir, "checkpoints");

    /// <summary>The run's task (data seed = run seed, as in the warm start).</summary>
    public IRlTask CreateTask() => TaskRegistry.Create(Settings.Run.Task, new TaskSettings(Seed: Settings.Run.Seed));

    /// <summary>The model shape, which a learner node must have.</summary>
    public TransformerConfig RequireModelConfig() =>
        ModelConfig ?? throw new InvalidOperationException("this node has no model config: only a node started by `train` (learner role) has the warm start");

    /// <summary>A context for a node without the learner role (samplers, verifiers): no warm start, the shape comes with the weights.</summary>
    public static RunContext ForWorker(RoRecompSettings settings) => new(settings, 0, "", null);

    /// <summary>The train prompt at data index <paramref name="index"/> (the data cursor wraps around the task's distinct train prompts).</summary>
    public static TaskPrompt TrainPrompt(IRlTask task, long index) => task.GetPrompt(Split.Train, index % task.DistinctPrompts(Split.Train));

    /// <summary>The tokenizer of <paramref name="task"/>.</summary>
    public static ITokenizer Tokenizer(IRlTask task) => EpisodeRunner.TokenizerFor(task);

    /// <summary>Reads the model shape from a checkpoint's manifest (verified), for a context.</summary>
    public static TransformerConfig ReadModelConfig(string checkpointDirectory)
    {
        using var cp = CheckpointStore.Load(checkpointDirectory, withOptimizer: false);
        return ModelConfigOf(cp);
    }

    /// <summary>The model shape a loaded checkpoint's manifest records.</summary>
    public static TransformerConfig ModelConfigOf(Checkpoint checkpoint)
    {
        var json = checkpoint.Manifest.ModelConfigJson
            ?? throw new CheckpointException($"{checkpoint.Path}: the manifest has no model config (not a RoRecomp policy checkpoint?)");
        return JsonSerializer.Deserialize<TransformerConfig>(json)
            ?? throw new CheckpointException($"{checkpoint.Path}: unreadable model config in the manifest");
    }
}
