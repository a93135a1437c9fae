using RoRecomp.Model.HuggingFace;
using RoRecomp.Model.Tests.HuggingFace;
using RoRecomp.Model.Tokenizers;
using RoRecomp.Settings;
using RoRecomp.Tasks;
using RoRecomp.Tasks.Datasets;
using RoRecomp.Training.Steps;
using TorchSharp;

namespace RoRecomp.Training.Tests.HuggingFace;

/// <summary>
/// What <c>train</c> builds from <c>model.source = hf</c> and <c>run.task = jsonl</c> before any work: the task (chat
/// template prompt, skipped rows), the tokenizer (end ids), the verified directory, the model on its device, and the
/// errors, each naming its key.
/// </summary>
public sealed class HfRunSetupTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-hf-setup-").FullName;
    private readonly string _model;
    private readonly string _data;

    public HfRunSetupTests()
    {
        _model = TinyHfDirectory.Write(Path.Combine(_dir, "model"));
        _data = TinyHfDirectory.WriteArithmetic(Path.Combine(_dir, "train.jsonl"), 60);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private RoRecompSettings Settings(params string[] more) =>
        SettingsLoader.Load(null, ["run.task=jsonl", $"task.train-path={_data}", "model.source=hf", $"model.path={_model}", "sampling.max-new-tokens=16", .. more]);

    [Fact]
    public void The_task_prompts_with_the_chat_template_and_the_tokenizer_ends_on_every_end_id()
    {
        var settings = Settings("task.system-prompt=Answer with #### and the number.");
        var task = RunContext.CreateTask(settings);
        var prompt = task.GetPrompt(Split.Train, 0);
        Assert.StartsWith("<|im_start|>system\nAnswer with #### and the number.<|im_end|>\n<|im_start|>user\nTom has ", prompt.Text);
        Assert.EndsWith("<|im_end|>\n<|im_start|>assistant\n", prompt.Text);
        var tokenizer = RunContext.CreateTokenizer(settings, task);
        Assert.IsType<HfTokenizer>(tokenizer);
        Assert.Equal(TinyHfDirectory.EndIds[0], tokenizer.EosId);   // tokenizer_config's eos_token <|im_end|>
        Assert.Equal(TinyHfDirectory.EndIds, tokenizer.EndIds.Order().Reverse());
        Assert.Equal(tokenizer.SpecialId("<|im_start|>"), tokenizer.Encode(prompt.Text)[0]);
        Assert.IsType<JsonlTask>(WarmStart.CheckFits(settings, _dir));
    }

    [Fact]
    public void The_directory_is_the_warm_start_and_loads_into_an_fp32_learner()
    {
        var settings = Settings();
        var log = new StringWriter();
        var warm = WarmStart.Prepare(settings, Path.Combine(_dir, "run"), log, interactive: false);
        Assert.Equal(Path.GetFullPath(_model), warm);
        Assert.Contains("no supervised warm start", log.ToString());
        Assert.False(Directory.Exists(Path.Combine(_dir, "run", "sft")));
        var config = RunContext.ReadModelConfig(warm);
        Assert.Equal(TinyHfDirectory.Config, config);
        using var learner = PolicyFactory.Create(config, settings);
        WarmStart.Load(learner, warm);
        Assert.All(learner.parameters(), p => Assert.Equal(torch.ScalarType.Float32, p.dtype));
        using var sampler = PolicyFactory.Create(config, Settings("model.dtype=bf16"), PolicyCopy.Sampler);
        Assert.All(sampler.parameters(), p => Assert.Equal(torch.ScalarType.BFloat16, p.dtype));
        Assert.Equal(DeviceType.CPU, sampler.parameters().First().device_type);
    }

    [Fact]
    public void A_missing_model_directory_or_file_is_a_settings_error_naming_model_path()
    {
        var missing = Assert.Throws<SettingsException>(() => WarmStart.CheckFits(Settings($"model.path={_dir}/none"), _dir));
        Assert.StartsWith($"rorecomp.model.path = {_dir}/none: ", missing.Message);
        File.Delete(Path.Combine(_model, "model-00002-of-00002.safetensors"));
        var shard = Assert.Throws<SettingsException>(() => WarmStart.Prepare(Settings(), _dir, TextWriter.Null, false));
        Assert.StartsWith($"rorecomp.model.path = {_model}: ", shard.Message);
        Assert.Contains("model-00002-of-00002.safetensors: not found", shard.Message);
    }

    [Fact]
    public void A_prompt_longer_than_the_context_names_the_data_key()
    {
        var config = TinyHfDirectory.ConfigJson(TinyHfDirectory.Config with { MaxPositions = 24 });
        File.WriteAllText(Path.Combine(_model, "config.json"), config.ToJsonString());
        var e = Assert.Throws<SettingsException>(() => WarmStart.CheckFits(Settings(), _dir));
        Assert.StartsWith($"rorecomp.task.train-path = {_data}: a prompt takes ", e.Message);
        Assert.Contains("more than the 24 positions (max_position_embeddings)", e.Message);
    }

    [Fact]
    public void Too_many_malformed_rows_are_a_settings_error_naming_the_key_file_and_line()
    {
        File.AppendAllLines(_data, ["{bad", "{worse"]);
        var task = Assert.IsType<JsonlTask>(RunContext.CreateTask(Settings("task.max-skipped=2")));
        Assert.Equal(2, task.Skipped.Length);
        Assert.Equal(60, task.DistinctPrompts(Split.Train) + task.DistinctPrompts(Split.Test));
        var e = Assert.Throws<SettingsException>(() => RunContext.CreateTask(Settings("task.max-skipped=1")));
        Assert.StartsWith($"rorecomp.task.train-path = {_data}: {_data}:62: invalid JSON", e.Message);
        Assert.Contains("more than the skip limit of 1", e.Message);
    }

    [Fact]
    public void An_unrecognised_chat_template_asks_for_a_prompt_template()
    {
        File.WriteAllText(Path.Combine(_model, "tokenizer_config.json"), """{"chat_template": "[INST] {{ messages[0]['content'] }} [/INST]", "eos_token": "<|endoftext|>"}""");
        var e = Assert.Throws<SettingsException>(() => RunContext.CreateTask(Settings()));
        Assert.Contains("rorecomp.task.prompt-template", e.Message);
        Assert.StartsWith("Q: ", RunContext.CreateTask(Settings("task.prompt-template=\"Q: {question}\\nA:\"")).GetPrompt(Split.Train, 0).Text);
    }

    [Fact]
    public void Cuda_asked_for_on_a_machine_without_one_is_a_settings_error_naming_the_key()
    {
        var e = Assert.Throws<SettingsException>(() => PolicyFactory.Device(Settings("model.device=cuda"), cudaAvailable: false));
        Assert.StartsWith("rorecomp.model.device = 'cuda': cuda requested but not available", e.Message);
        Assert.Equal(DeviceType.CPU, PolicyFactory.Device(Settings("model.device=auto"), cudaAvailable: false).Device.type);
        if (!torch.cuda.is_available()) Assert.Throws<SettingsException>(() => PolicyFactory.Create(TinyHfDirectory.Config, Settings("model.device=cuda:0")));
    }
}
