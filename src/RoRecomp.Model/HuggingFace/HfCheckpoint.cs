using System.Text.Json;
using System.Text.Json.Nodes;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Transformer;
using static TorchSharp.torch;

namespace RoRecomp.Model.HuggingFace;

/// <summary>
/// Reads a Hugging Face model directory: <c>config.json</c>, and <c>model.safetensors</c> or a sharded
/// <c>model.safetensors.index.json</c> with its shards. Weights come back as fp32 CPU tensors under their HF names, which
/// are the names the policy transformer registers (so loading is an identity map plus dtype conversion).
/// </summary>
public static class HfCheckpoint
{
    /// <summary>The model types this code maps, with their default QKV bias (Qwen2 has it; Llama and Mistral do not).</summary>
    public static readonly IReadOnlyDictionary<string, bool> SupportedModelTypes = new Dictionary<string, bool>(StringComparer.Ordinal)
    {
        ["qwen2"] = true,
        ["llama"] = false,
        ["mistral"] = false,
    };

    /// <summary>Parses <c>config.json</c> into the transformer config; a missing key or an unsupported model type is refused naming the key or type.</summary>
    public static TransformerConfig ReadConfig(string directory)
    {
        var path = Path.Combine(directory, "config.json");
        if (!File.Exists(path)) throw new CheckpointException($"{path}: not found (a Hugging Face model directory has config.json)");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var r = doc.RootElement;
        var type = Str(r, "model_type", path);
        if (!SupportedModelTypes.TryGetValue(type, out var defaultBias))
            throw new CheckpointException($"{path}: model_type '{type}' is not supported (supported: {string.Join(", ", SupportedModelTypes.Keys)})");
        if (r.TryGetProperty("rope_scaling", out var rs) && rs.ValueKind != JsonValueKind.Null)
            throw new CheckpointException($"{path}: rope_scaling is set; scaled rotary embeddings are not supported");
        var vocab = Int(r, "vocab_size", path);
        var hidden = Int(r, "hidden_size", path);
        var intermediate = Int(r, "intermediate_size", path);
        var layers = Int(r, "num_hidden_layers", path);
        var heads = Int(r, "num_attention_heads", path);
        return new TransformerConfig(
            vocab,
            hidden,
            intermediate,
            layers,
            heads,
            r.TryGetProperty("num_key_value_heads", out var kv) && kv.ValueKind == JsonValueKind.Number ? kv.GetInt32() : heads,
            r.TryGetProperty("max_position_embeddings", out var mp) ? mp.GetInt32() : 2048,
            r.TryGetProperty("rope_theta", out var rt) ? rt.GetDouble() : 10000.0,
            r.TryGetProperty("rms_norm_eps", out var eps) ? eps.GetDouble() : 1e-6,
            r.TryGetProperty("attention_bias", out var ab) ? ab.GetBoolean() : defaultBias,
            r.TryGetProperty("tie_word_embeddings", out var tie) && tie.GetBoolean());
    }

    /// <summary>
    /// The <c>config.json</c> of <paramref name="config"/>, with every key <see cref="ReadConfig"/> reads (so it reads back
    /// as the same config) and what Hugging Face loaders need besides: <c>architectures</c>, <c>model_type</c>
    /// (<c>qwen2</c> when the model has the QKV bias, which Qwen2 always has; <c>llama</c> without it), <c>hidden_act</c>,
    /// <c>torch_dtype</c> (<c>float32</c> or <c>bfloat16</c>). <paramref name="extra"/> adds keys (e.g. token ids).
    /// </summary>
    public static JsonObject ConfigJson(TransformerConfig config, string torchDtype, IReadOnlyDictionary<string, JsonNode?>? extra = null)
    {
        var qwen2 = config.QkvBias;
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray(qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"),
            ["model_type"] = qwen2 ? "qwen2" : "llama",
            ["vocab_size"] = config.VocabSize,
            ["hidden_size"] = config.HiddenSize,
            ["intermediate_size"] = config.IntermediateSize,
            ["num_hidden_layers"] = config.NumLayers,
            ["num_attention_heads"] = config.NumHeads,
            ["num_key_value_heads"] = config.NumKvHeads,
            ["max_position_embeddings"] = config.MaxPositions,
            ["rope_theta"] = config.RopeTheta,
            ["rms_norm_eps"] = config.RmsNormEps,
            ["attention_bias"] = config.QkvBias,
            ["tie_word_embeddings"] = config.TieEmbeddings,
            ["hidden_act"] = "silu",
            ["rope_scaling"] = null,
            ["torch_dtype"] = torchDtype,
        };
        if (qwen2) o["use_sliding_window"] = false;
        else o["mlp_bias"] = false;
        foreach (var (k, v) in extra ?? new Dictionary<string, JsonNode?>()) o[k] = v?.DeepClone();
        return o;
    }

    /// <summary>Every weight as fp32 (bf16/fp16 converted), single file or shards. The caller disposes the tensors.</summary>
    public static Dictionary<string, Tensor> ReadWeights(string directory)
    {
        var single = Path.Combine(directory, "model.safetensors");
        var index = Path.Combine(directory, "model.safetensors.index.json");
        var files = new List<string>();
        if (File.Exists(index))
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(index));
            if (!doc.RootElement.TryGetProperty("weight_map", out var map))
                throw new CheckpointException($"{index}: no weight_map");
            files.AddRange(map.EnumerateObject().Select(p => p.Value.GetString()!).Distinct(StringComparer.Ordinal));
            foreach (var shard in files)
            {
                if (shard.Contains("..", StringComparison.Ordinal) || Path.IsPathRooted(shard))
                    throw new CheckpointException($"{index}: shard name '{shard}' points outside the model directory");
            }
        }
        else if (File.Exists(single))
        {
            files.Add("model.safetensors");
        }
        else
        {
            throw new CheckpointException($"{directory}: neither model.safetensors nor model.safetensors.index.json found");
        }
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var f in files)
        {
            var content = SafeTensors.Read(Path.Combine(directory, f));
            foreach (var info in content.Tensors)
            {
                if (result.ContainsKey(info.Name)) throw new CheckpointException($"{directory}: tensor '{info.Name}' appears in more than one shard");
                result[info.Name] = content.ToTensor(info, toFloat32: true);
            }
        }
        return result;
    }

    private static string Str(JsonElement r, string key, string path) =>
        r.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new CheckpointException($"{path}: '{key}' missing or not a string");

    private static int Int(JsonElement r, string key, string path) =>
        r.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : throw new CheckpointException($"{path}: '{key}' missing or not a number");
}
