using RoRecomp.Model.Transformer;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.HuggingFace;
using RoRecomp.Model.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace RoRecomp.Model.Tests.HuggingFace;

public sealed class HfCheckpointTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"rorecomp-hf-test-{Guid.NewGuid():N}");

    public HfCheckpointTests()
    {
        TorchRuntime.EnsureLoaded();
        Directory.CreateDirectory(_dir);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string QwenConfig = """
        {"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","vocab_size":64,"hidden_size":32,"intermediate_size":48,
         "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"max_position_embeddings":128,
         "rope_theta":1000000.0,"rms_norm_eps":1e-6,"tie_word_embeddings":true,"torch_dtype":"bfloat16"}
        """;

    [Fact]
    public void Config_maps_qwen2_keys()
    {
        File.WriteAllText(Path.Combine(_dir, "config.json"), QwenConfig);
        var c = HfCheckpoint.ReadConfig(_dir);
        Assert.Equal(new TransformerConfig(64, 32, 48, 2, 4, 2, 128, 1e6, 1e-6, QkvBias: true, TieEmbeddings: true), c);
    }

    [Fact]
    public void Unsupported_or_incomplete_configs_are_refused_with_the_key()
    {
        File.WriteAllText(Path.Combine(_dir, "config.json"), """{"model_type":"gpt2"}""");
        Assert.Contains("model_type 'gpt2' is not supported", Assert.Throws<CheckpointException>(() => HfCheckpoint.ReadConfig(_dir)).Message);
        File.WriteAllText(Path.Combine(_dir, "config.json"), """{"model_type":"llama","vocab_size":10}""");
        Assert.Contains("'hidden_size'", Assert.Throws<CheckpointException>(() => HfCheckpoint.ReadConfig(_dir)).Message);
    }

    [Fact]
    public void Sharded_bf16_weights_load_as_fp32()
    {
        using var scope = NewDisposeScope();
        TorchRuntime.ManualSeed(3);
        var a = randn(8, 4);
        var b = randn(3);
        File.WriteAllBytes(Path.Combine(_dir, "model-00001-of-00002.safetensors"), SafeTensors.Serialize([new("model.a", a.to(ScalarType.BFloat16))]));
        File.WriteAllBytes(Path.Combine(_dir, "model-00002-of-00002.safetensors"), SafeTensors.Serialize([new("model.b", b.to(ScalarType.Float16))]));
        File.WriteAllText(Path.Combine(_dir, "model.safetensors.index.json"),
            """{"metadata":{"total_size":76},"weight_map":{"model.a":"model-00001-of-00002.safetensors","model.b":"model-00002-of-00002.safetensors"}}""");
        var w = HfCheckpoint.ReadWeights(_dir);
        Assert.Equal(["model.a", "model.b"], w.Keys.Order());
        Assert.Equal(ScalarType.Float32, w["model.a"].dtype);
        Assert.True(w["model.a"].allclose(a, rtol: 1e-2, atol: 1e-2));
        Assert.True(w["model.b"].allclose(b, rtol: 1e-3, atol: 1e-3));

        File.WriteAllText(Path.Combine(_dir, "model.safetensors.index.json"), """{"weight_map":{"x":"../evil.safetensors"}}""");
        Assert.Contains("outside the model directory", Assert.Throws<CheckpointException>(() => HfCheckpoint.ReadWeights(_dir)).Message);
    }
}

public sealed class HfModelLoadingTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"rorecomp-hf-model-{Guid.NewGuid():N}");

    public HfModelLoadingTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void WriteQwen2Config(TransformerConfig c) => File.WriteAllText(Path.Combine(_dir, "config.json"), $$"""
        {"model_type":"qwen2","vocab_size":{{c.VocabSize}},"hidden_size":{{c.HiddenSize}},"intermediate_size":{{c.IntermediateSize}},
         "num_hidden_layers":{{c.NumLayers}},"num_attention_heads":{{c.NumHeads}},"num_key_value_heads":{{c.NumKvHeads}},
         "max_position_embeddings":{{c.MaxPositions}},"rope_theta":{{c.RopeTheta}},"rms_norm_eps":{{c.RmsNormEps}},
         "tie_word_embeddings":{{(c.TieEmbeddings ? "true" : "false")}}}
        """);

    [Fact]
    public void A_tiny_random_qwen2_checkpoint_in_bf16_shards_loads_and_runs()
    {
        using var scope = NewDisposeScope();
        var source = RoRecomp.Model.Tests.Transformer.TinyModels.Make(seed: 11, tie: false);
        var c = source.Config;
        WriteQwen2Config(c);
        var all = source.state_dict().ToList();
        var half = all.Count / 2;
        var shards = new[] { all.Take(half).ToList(), all.Skip(half).ToList() };
        var map = new Dictionary<string, string>();
        for (var i = 0; i < 2; i++)
        {
            var name = $"model-0000{i + 1}-of-00002.safetensors";
            File.WriteAllBytes(Path.Combine(_dir, name), SafeTensors.Serialize(shards[i].Select(kv => new KeyValuePair<string, Tensor>(kv.Key, kv.Value.to(ScalarType.BFloat16)))));
            foreach (var kv in shards[i]) map[kv.Key] = name;
        }
        File.WriteAllText(Path.Combine(_dir, "model.safetensors.index.json"), System.Text.Json.JsonSerializer.Serialize(new { weight_map = map }));

        var (model, report) = HfModelLoader.Load(_dir);
        Assert.True(report.IsExact);
        Assert.Equal(c, model.Config);
        var tokens = tensor(new long[] { 3, 4, 5, 6, 7 }, [1, 5]);
        var positions = arange(5L).unsqueeze(0);
        var mask = ones(1, 5, dtype: ScalarType.Bool);
        using var ng = no_grad();
        source.eval();
        model.eval();
        var expected = source.Forward(tokens, positions, mask);
        var actual = model.Forward(tokens, positions, mask);
        var scale = expected.abs().max().item<float>();
        Assert.True((expected - actual).abs().max().item<float>() < 0.05 * scale, "bf16 weights should give logits within bf16 tolerance");
        Assert.Equal(expected.argmax(-1).data<long>().ToArray(), actual.argmax(-1).data<long>().ToArray());
    }

    [Fact]
    public void Missing_and_unexpected_tensors_are_reported_or_refused()
    {
        using var scope = NewDisposeScope();
        var source = RoRecomp.Model.Tests.Transformer.TinyModels.Make(seed: 12, tie: true);
        var c = source.Config;
        WriteQwen2Config(c);
        var tensors = source.state_dict().Where(kv => kv.Key != "model.norm.weight").Append(new("model.rotary_emb.inv_freq", zeros(4))).ToList();
        File.WriteAllBytes(Path.Combine(_dir, "model.safetensors"), SafeTensors.Serialize(tensors));
        var ex = Assert.Throws<CheckpointException>(() => HfModelLoader.Load(_dir, strict: true));
        Assert.Contains("model.norm.weight", ex.Message);
        var (_, report) = HfModelLoader.Load(_dir, strict: false);
        Assert.Equal(["model.norm.weight"], report.Missing);
        Assert.Equal(["model.rotary_emb.inv_freq"], report.Unexpected);
    }
}
