using System.Globalization;
using System.Text.Json.Nodes;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;
using static TorchSharp.torch;

namespace RoRecomp.Model.Tests.HuggingFace;

/// <summary>
/// Writes a real Hugging Face model directory the way <c>save_pretrained</c> does, for tests that cannot download one:
/// a tiny <c>qwen2</c> config.json whose vocabulary is the real Qwen tokenizer's, seeded random bf16 weights split into two
/// safetensors shards with <c>model.safetensors.index.json</c>, Qwen's tokenizer.json and tokenizer_config.json (with its
/// ChatML chat template), and a generation_config.json with two end ids. Shared by the Model, Training and Actors tests
/// (linked source file).
/// </summary>
internal static class TinyHfDirectory
{
    /// <summary>Qwen's <c>&lt;|im_end|&gt;</c> and <c>&lt;|endoftext|&gt;</c> ids: generation_config.json's end ids.</summary>
    public static readonly int[] EndIds = [151645, 151643];

    /// <summary>The tokenizer's size (151,669 ids): the model's vocabulary.</summary>
    public const int Vocab = 151_669;

    /// <summary>The model's shape: hidden 32, 2 layers, 4 heads (2 key/value), SwiGLU 64, 256 positions, tied embeddings.</summary>
    public static TransformerConfig Config => new(Vocab, 32, 64, 2, 4, 2, 256, RopeTheta: 1e6, RmsNormEps: 1e-6, QkvBias: true, TieEmbeddings: true);

    /// <summary>Writes the directory <paramref name="dir"/> (created) and returns it.</summary>
    public static string Write(string dir, int seed = 5)
    {
        TorchRuntime.EnsureLoaded();
        Directory.CreateDirectory(dir);
        var c = Config;
        File.WriteAllText(Path.Combine(dir, "config.json"), ConfigJson(c).ToJsonString());
        var models = Path.GetDirectoryName(TestAssets.QwenTokenizerJson())!;
        File.Copy(Path.Combine(models, "tokenizer.json"), Path.Combine(dir, "tokenizer.json"), overwrite: true);
        File.Copy(Path.Combine(models, "tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json"), overwrite: true);
        File.WriteAllText(Path.Combine(dir, "generation_config.json"),
            $$"""{"bos_token_id": 151643, "eos_token_id": [{{EndIds[0]}}, {{EndIds[1]}}], "do_sample": true, "transformers_version": "4.45.0"}""");

        TorchRuntime.ManualSeed(seed);
        using var model = new PolicyTransformer(c);
        using var scope = NewDisposeScope();
        var tensors = model.state_dict().Select(kv => new KeyValuePair<string, Tensor>(kv.Key, kv.Value.to(ScalarType.BFloat16))).ToList();
        var half = tensors.Count / 2;
        string[] shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
        File.WriteAllBytes(Path.Combine(dir, shards[0]), SafeTensors.Serialize(tensors.Take(half), new Dictionary<string, string> { ["format"] = "pt" }));
        File.WriteAllBytes(Path.Combine(dir, shards[1]), SafeTensors.Serialize(tensors.Skip(half), new Dictionary<string, string> { ["format"] = "pt" }));
        var map = new JsonObject();
        for (var i = 0; i < tensors.Count; i++) map[tensors[i].Key] = shards[i < half ? 0 : 1];
        var total = tensors.Sum(t => t.Value.NumberOfElements * 2);
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"),
            new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = map }.ToJsonString());
        return dir;
    }

    /// <summary>The config.json of <paramref name="c"/> as transformers writes it for Qwen2.</summary>
    public static JsonObject ConfigJson(TransformerConfig c, string modelType = "qwen2") => new()
    {
        ["architectures"] = new JsonArray("Qwen2ForCausalLM"),
        ["model_type"] = modelType,
        ["vocab_size"] = c.VocabSize,
        ["hidden_size"] = c.HiddenSize,
        ["intermediate_size"] = c.IntermediateSize,
        ["num_hidden_layers"] = c.NumLayers,
        ["num_attention_heads"] = c.NumHeads,
        ["num_key_value_heads"] = c.NumKvHeads,
        ["max_position_embeddings"] = c.MaxPositions,
        ["rope_theta"] = c.RopeTheta,
        ["rms_norm_eps"] = c.RmsNormEps,
        ["tie_word_embeddings"] = c.TieEmbeddings,
        ["torch_dtype"] = "bfloat16",
        ["use_sliding_window"] = false,
        ["hidden_act"] = "silu",
    };

    /// <summary>Writes <paramref name="count"/> GSM8K-style rows ("question", "answer" ending "#### N") of small sums and products.</summary>
    public static string WriteArithmetic(string path, int count, int seed = 3)
    {
        var rng = new Random(seed);
        var lines = new List<string>();
        for (var i = 0; i < count; i++)
        {
            int a = rng.Next(1, 20), b = rng.Next(1, 20);
            var (op, r) = rng.Next(2) == 0 ? ("+", a + b) : ("*", a * b);
            var q = string.Create(CultureInfo.InvariantCulture, $"Tom has {a} boxes and computes {a} {op} {b}. What is {a} {op} {b}?");
            var ans = string.Create(CultureInfo.InvariantCulture, $"{a} {op} {b} = {r}\n#### {r}");
            lines.Add(new JsonObject { ["question"] = q, ["answer"] = ans }.ToJsonString());
        }
        File.WriteAllLines(path, lines);
        return path;
    }
}
