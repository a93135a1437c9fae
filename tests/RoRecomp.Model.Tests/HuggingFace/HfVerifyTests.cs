using System.Text.Json.Nodes;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.HuggingFace;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;
using static TorchSharp.torch;

namespace RoRecomp.Model.Tests.HuggingFace;

/// <summary>A model directory is checked from its headers before a run starts: one clear message per fault.</summary>
public sealed class HfVerifyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-hf-verify-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly TransformerConfig Small = new(64, 32, 48, 2, 4, 2, 128, 1e6, 1e-6, QkvBias: true, TieEmbeddings: true);

    private void WriteModel(TransformerConfig c, string torchDtype = "bfloat16", ScalarType stored = ScalarType.BFloat16, Func<string, bool>? keep = null)
    {
        TorchRuntime.EnsureLoaded();
        var json = TinyHfDirectory.ConfigJson(c);
        json["torch_dtype"] = torchDtype;
        File.WriteAllText(Path.Combine(_dir, "config.json"), json.ToJsonString());
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), "{}");
        using var model = new PolicyTransformer(c);
        using var scope = NewDisposeScope();
        File.WriteAllBytes(Path.Combine(_dir, "model.safetensors"), SafeTensors.Serialize(
            model.state_dict().Where(kv => keep?.Invoke(kv.Key) ?? true).Select(kv => new KeyValuePair<string, Tensor>(kv.Key, kv.Value.to(stored)))));
    }

    [Fact]
    public void The_expected_shapes_are_the_ones_the_transformer_registers()
    {
        TorchRuntime.EnsureLoaded();
        foreach (var c in new[] { Small, Small with { TieEmbeddings = false, QkvBias = false } })
        {
            using var model = new PolicyTransformer(c);
            var registered = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);
            var expected = HfCheckpoint.ExpectedShapes(c);
            Assert.Equal(registered.Keys.Order(), expected.Keys.Order());
            Assert.All(registered, kv => Assert.Equal(kv.Value, expected[kv.Key]));
        }
    }

    [Fact]
    public void A_good_directory_passes()
    {
        WriteModel(Small);
        HfCheckpoint.Verify(_dir, HfCheckpoint.ReadConfig(_dir));
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        WriteModel(Small);
        File.Delete(Path.Combine(_dir, "tokenizer.json"));
        Assert.Contains("tokenizer.json: not found", Assert.Throws<CheckpointException>(() => HfCheckpoint.Verify(_dir, Small)).Message);
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), "{}");
        File.Delete(Path.Combine(_dir, "model.safetensors"));
        Assert.Contains("neither model.safetensors nor model.safetensors.index.json", Assert.Throws<CheckpointException>(() => HfCheckpoint.Verify(_dir, Small)).Message);
        File.WriteAllText(Path.Combine(_dir, "model.safetensors.index.json"), """{"weight_map": {"model.norm.weight": "model-00002-of-00002.safetensors"}}""");
        var shard = Assert.Throws<CheckpointException>(() => HfCheckpoint.Verify(_dir, Small)).Message;
        Assert.Contains("model-00002-of-00002.safetensors: not found (listed in model.safetensors.index.json)", shard);
    }

    [Fact]
    public void An_unsupported_architecture_is_named()
    {
        WriteModel(Small);
        var json = TinyHfDirectory.ConfigJson(Small, modelType: "mistral");
        File.WriteAllText(Path.Combine(_dir, "config.json"), json.ToJsonString());
        var e = Assert.Throws<CheckpointException>(() => HfCheckpoint.ReadConfig(_dir));
        Assert.Contains("model_type 'mistral' is not supported (supported: qwen2, llama)", e.Message);
    }

    [Fact]
    public void A_shape_that_does_not_match_the_config_names_the_tensor_and_both_shapes()
    {
        WriteModel(Small with { IntermediateSize = 40 });
        var e = Assert.Throws<CheckpointException>(() => HfCheckpoint.Verify(_dir, Small));
        Assert.Contains("mlp.", e.Message);
        Assert.Contains("[40, 32] but config.json's sizes make it [48, 32]", e.Message);
    }

    [Fact]
    public void A_dtype_other_than_config_jsons_or_not_a_float_is_named()
    {
        WriteModel(Small, torchDtype: "bfloat16", stored: ScalarType.Float16);
        Assert.Contains("is F16 but config.json says torch_dtype bfloat16", Assert.Throws<CheckpointException>(() => HfCheckpoint.Verify(_dir, Small)).Message);
        WriteModel(Small, torchDtype: "int8", stored: ScalarType.Int8);
        Assert.Contains("has dtype I8", Assert.Throws<CheckpointException>(() => HfCheckpoint.Verify(_dir, Small)).Message);
    }

    [Fact]
    public void A_missing_tensor_is_listed()
    {
        WriteModel(Small, keep: name => name != "model.norm.weight");
        Assert.Contains("lack 1 tensor(s) of the model: model.norm.weight", Assert.Throws<CheckpointException>(() => HfCheckpoint.Verify(_dir, Small)).Message);
    }
}
