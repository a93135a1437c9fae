using System.Text.Json;
using RoRecomp.Settings;
using RoRecomp.Training.Rollouts;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Tokenizers;
using RoRecomp.Model.HuggingFace;
using RoRecomp.Model.Transformer;
using RoRecomp.Tasks;
using RoRecomp.Tasks.Datasets;

namespace RoRecomp.Training;

/// <summary>
/// What every actor of one run needs besides its messages: the settings, the run's length, the warm-start checkpoint
/// (or Hugging Face directory) and the model shape. Each actor builds its own task, tokenizer and model from it (TorchSharp modules are not
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

    /// <summary>The run's task (<see cref="CreateTask(RoRecompSettings)"/>).</summary>
    public IRlTask CreateTask() => CreateTask(Settings);

    /// <summary>The run's tokenizer for <paramref name="task"/> (<see cref="CreateTokenizer(RoRecompSettings, IRlTask)"/>).</summary>
    public ITokenizer CreateTokenizer(IRlTask task) => CreateTokenizer(Settings, task);

    /// <summary>
    /// The run's task, the one place it is built from settings (data seed = run seed, as in the warm start). For
    /// <c>jsonl</c>: the files and fields of <c>rorecomp.task.*</c>, malformed rows skipped up to <c>task.max-skipped</c>,
    /// and the prompt <c>task.prompt-template</c>, or when that is empty the model directory's chat template around the
    /// question (<see cref="HfChatFormat"/>). Bad data or paths throw a <see cref="SettingsException"/> naming the key.
    /// </summary>
    public static IRlTask CreateTask(RoRecompSettings settings)
    {
        if (settings.Run.Task != "jsonl") return TaskRegistry.Create(settings.Run.Task, new TaskSettings(Seed: settings.Run.Seed));
        var d = settings.TaskData;
        var template = d.PromptTemplate.Length > 0 ? d.PromptTemplate
            : settings.Model.IsHuggingFace ? ChatFormat(settings).Template(d.SystemPrompt)
            : HfChatFormat.QuestionSlot;
        var style = d.AnswerStyle switch { "gsm8k" => AnswerStyle.Gsm8k, "boxed" => AnswerStyle.Boxed, "raw" => AnswerStyle.Raw, _ => AnswerStyle.Auto };
        var format = new JsonlFormat(d.QuestionField, d.AnswerField, style, SkipMalformed: d.MaxSkipped > 0, MaxSkipped: d.MaxSkipped);
        var options = new JsonlTaskOptions(d.TrainPath, d.TestPath.Length > 0 ? d.TestPath : null, format, template, settings.Run.Seed, d.TestPercent);
        try
        {
            return TaskRegistry.Create("jsonl", new TaskSettings(settings.Run.Seed, d.TestPercent, options));
        }
        catch (DatasetFormatException e)
        {
            throw new SettingsException($"{DataKey(settings, e.Path)}: {e.Message}", e);
        }
        catch (FileNotFoundException e)
        {
            throw new SettingsException($"{DataKey(settings, e.FileName ?? d.TrainPath)}: {e.Message}", e);
        }
        catch (ArgumentException e)
        {
            throw new SettingsException($"rorecomp.task: {e.Message}", e);
        }
    }

    /// <summary>
    /// The run's tokenizer: with <c>model.source = hf</c> the directory's <c>tokenizer.json</c> (end and pad tokens from
    /// <c>tokenizer_config.json</c>, and every end id of <c>generation_config.json</c> also ending a response), else the
    /// task's character tokenizer. A directory that does not load throws a <see cref="SettingsException"/> naming
    /// <c>rorecomp.model.path</c>.
    /// </summary>
    public static ITokenizer CreateTokenizer(RoRecompSettings settings, IRlTask task)
    {
        if (!settings.Model.IsHuggingFace)
        {
            if (string.IsNullOrEmpty(task.Alphabet))
                throw new SettingsException($"rorecomp.run.task = {task.Name} has no character vocabulary: it needs rorecomp.model.source = hf (a model's tokenizer.json)");
            return EpisodeRunner.TokenizerFor(task);
        }
        var chat = ChatFormat(settings);
        var dir = settings.Model.Path;
        try
        {
            var tokenizer = HfTokenizer.Load(dir, chat.EosTokens.FirstOrDefault(), chat.PadToken);
            var ends = chat.EosIds.Concat(chat.EosTokens.Select(t => tokenizer.SpecialId(t)).OfType<int>());
            return tokenizer.WithEndIds(ends);
        }
        catch (Exception e) when (e is IOException or NotSupportedException or ArgumentException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new SettingsException($"rorecomp.model.path = {dir}: the tokenizer does not load: {e.Message}", e);
        }
    }

    /// <summary>The chat format of the model directory (<c>model.path</c>); unreadable or unrecognised is a <see cref="SettingsException"/>.</summary>
    private static HfChatFormat ChatFormat(RoRecompSettings settings)
    {
        try
        {
            return HfChatFormat.Load(settings.Model.Path);
        }
        catch (Exception e) when (e is CheckpointException or NotSupportedException or IOException or UnauthorizedAccessException)
        {
            throw new SettingsException($"rorecomp.model.path = {settings.Model.Path}: {e.Message}", e);
        }
    }

    /// <summary>The key of the data file <paramref name="path"/>: test-path when it is the test file, else train-path.</summary>
    private static string DataKey(RoRecompSettings settings, string path) =>
        settings.TaskData.TestPath.Length > 0 && Path.GetFullPath(path) == Path.GetFullPath(settings.TaskData.TestPath)
            ? $"rorecomp.task.test-path = {settings.TaskData.TestPath}"
            : $"rorecomp.task.train-path = {settings.TaskData.TrainPath}";

    /// <summary>The model shape, which a learner node must have.</summary>
    public TransformerConfig RequireModelConfig() =>
        ModelConfig ?? throw new InvalidOperationException("this node has no model config: only a node started by `train` (learner role) has the warm start");

    /// <summary>A context for a node without the learner role (samplers, verifiers): no warm start, the shape comes with the weights.</summary>
    public static RunContext ForWorker(RoRecompSettings settings) => new(settings, 0, "", null);

    /// <summary>The train prompt at data index <paramref name="index"/> (the data cursor wraps around the task's distinct train prompts).</summary>
    public static TaskPrompt TrainPrompt(IRlTask task, long index) => task.GetPrompt(Split.Train, index % task.DistinctPrompts(Split.Train));

    /// <summary>
    /// Reads the model shape of a warm start: a Hugging Face directory's <c>config.json</c>
    /// (<see cref="Steps.WarmStart.IsHuggingFaceDirectory"/>), else a checkpoint's manifest (verified).
    /// </summary>
    public static TransformerConfig ReadModelConfig(string checkpointDirectory)
    {
        if (Steps.WarmStart.IsHuggingFaceDirectory(checkpointDirectory)) return HfCheckpoint.ReadConfig(checkpointDirectory);
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
