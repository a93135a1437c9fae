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
    /// <summary>
    /// The model types this code maps, with their default QKV bias (Qwen2 has it; Llama does not). Others (Mistral's
    /// sliding window, Qwen3's QK norm, ...) compute something the transformer does not, so they are refused.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, bool> SupportedModelTypes = new Dictionary<string, bool>(StringComparer.Ordinal)
    {
        ["qwen2"] = true,
        ["llama"] = false,
    };

    /// <summary>The files of a model directory the policy needs besides the weights.</summary>
    public static readonly IReadOnlyList<string> RequiredFiles = ["config.json", "tokenizer.json"];

    /// <summary>
    /// Checks a model directory without loading its weights: <see cref="RequiredFiles"/> exist, and the weight files'
    /// headers hold exactly the tensors of <paramref name="config"/> (names and shapes, see <see cref="ExpectedShapes"/>)
    /// in a float dtype, the one <c>config.json</c>'s <c>torch_dtype</c> names when it names one. Throws a
    /// <see cref="CheckpointException"/> naming the file, the tensor and both sides.
    /// </summary>
    public static void Verify(string directory, TransformerConfig config)
    {
        foreach (var f in RequiredFiles)
        {
            var path = Path.Combine(directory, f);
            if (!File.Exists(path)) throw new CheckpointException($"{path}: not found (a Hugging Face model directory needs {string.Join(", ", RequiredFiles)} and its weights)");
        }
        var torchDtype = ConfigDtype(directory);
        var expected = ExpectedShapes(config);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in WeightFiles(directory))
        {
            var path = Path.Combine(directory, file);
            if (!File.Exists(path)) throw new CheckpointException($"{path}: not found (listed in model.safetensors.index.json)");
            foreach (var (name, dtype, shape) in ReadHeader(path))
            {
                if (!expected.TryGetValue(name, out var want))
                    throw new CheckpointException($"{path}: tensor '{name}' is not a tensor of a {config.NumLayers}-layer model with config.json's settings (tie_word_embeddings {config.TieEmbeddings.ToString().ToLowerInvariant()}, attention bias {config.QkvBias.ToString().ToLowerInvariant()})");
                if (!seen.Add(name)) throw new CheckpointException($"{directory}: tensor '{name}' appears in more than one shard");
                if (dtype is not ("F32" or "BF16" or "F16"))
                    throw new CheckpointException($"{path}: tensor '{name}' has dtype {dtype}; a policy's weights are F32, BF16 or F16 (quantised checkpoints are not supported)");
                if (torchDtype is not null && dtype != torchDtype)
                    throw new CheckpointException($"{path}: tensor '{name}' is {dtype} but config.json says torch_dtype {DtypeName(torchDtype)}");
                if (!shape.SequenceEqual(want))
                    throw new CheckpointException($"{path}: tensor '{name}' has shape [{string.Join(", ", shape)}] but config.json's sizes make it [{string.Join(", ", want)}]");
            }
        }
        var missing = expected.Keys.Where(k => !seen.Contains(k)).Order(StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
            throw new CheckpointException($"{directory}: the weights lack {missing.Count} tensor(s) of the model: {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", ..." : "")}");
    }

    /// <summary>
    /// The tensors a policy of shape <paramref name="config"/> has, by Hugging Face name (the names and shapes
    /// <see cref="PolicyTransformer"/> registers; a test holds the two equal).
    /// </summary>
    public static IReadOnlyDictionary<string, long[]> ExpectedShapes(TransformerConfig config)
    {
        long h = config.HiddenSize, q = (long)config.NumHeads * config.HeadDim, kv = (long)config.NumKvHeads * config.HeadDim, i = config.IntermediateSize;
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal)
        {
            ["model.embed_tokens.weight"] = [config.VocabSize, h],
            ["model.norm.weight"] = [h],
        };
        if (!config.TieEmbeddings) shapes["lm_head.weight"] = [config.VocabSize, h];
        for (var l = 0; l < config.NumLayers; l++)
        {
            var p = $"model.layers.{l}.";
            shapes[p + "input_layernorm.weight"] = [h];
            shapes[p + "post_attention_layernorm.weight"] = [h];
            shapes[p + "self_attn.q_proj.weight"] = [q, h];
            shapes[p + "self_attn.k_proj.weight"] = [kv, h];
            shapes[p + "self_attn.v_proj.weight"] = [kv, h];
            shapes[p + "self_attn.o_proj.weight"] = [h, q];
            if (config.QkvBias)
            {
                shapes[p + "self_attn.q_proj.bias"] = [q];
                shapes[p + "self_attn.k_proj.bias"] = [kv];
                shapes[p + "self_attn.v_proj.bias"] = [kv];
            }
            shapes[p + "mlp.gate_proj.weight"] = [i, h];
            shapes[p + "mlp.up_proj.weight"] = [i, h];
            shapes[p + "mlp.down_proj.weight"] = [h, i];
        }
        return shapes;
    }

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
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var f in WeightFiles(directory))
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

    /// <summary>The weight files of a directory: the shards its index lists, or <c>model.safetensors</c>.</summary>
    private static List<string> WeightFiles(string directory)
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
        return files;
    }

    /// <summary>Name, dtype and shape of every tensor of a safetensors file, from its header alone (the data is not read).</summary>
    private static List<(string Name, string DType, long[] Shape)> ReadHeader(string path)
    {
        using var stream = File.OpenRead(path);
        var lengthBytes = new byte[8];
        if (stream.ReadAtLeast(lengthBytes, 8, throwOnEndOfStream: false) < 8) throw new CheckpointException($"{path}: truncated (no safetensors header)");
        var length = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (length > 100UL << 20 || (long)length > stream.Length - 8) throw new CheckpointException($"{path}: header length {length} does not fit the file: truncated or not safetensors");
        var header = new byte[length];
        stream.ReadExactly(header);
        var result = new List<(string, string, long[])>();
        try
        {
            using var doc = JsonDocument.Parse(header);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__") continue;
                result.Add((p.Name, p.Value.GetProperty("dtype").GetString()!, [.. p.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64())]));
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new CheckpointException($"{path}: malformed safetensors header ({e.Message})", e);
        }
        return result;
    }

    /// <summary>config.json's <c>torch_dtype</c> as a safetensors dtype (F32, BF16, F16), or null when absent or another.</summary>
    private static string? ConfigDtype(string directory)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(directory, "config.json")));
        if (!doc.RootElement.TryGetProperty("torch_dtype", out var t) || t.ValueKind != JsonValueKind.String) return null;
        return t.GetString() switch { "float32" => "F32", "bfloat16" => "BF16", "float16" => "F16", _ => null };
    }

    private static string DtypeName(string dtype) => dtype switch { "F32" => "float32", "BF16" => "bfloat16", _ => "float16" };

    private static string Str(JsonElement r, string key, string path) =>
        r.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new CheckpointException($"{path}: '{key}' missing or not a string");

    private static int Int(JsonElement r, string key, string path) =>
        r.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : throw new CheckpointException($"{path}: '{key}' missing or not a number");
}
