using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using RoRecomp.Core.IO;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Transformer;
using static TorchSharp.torch;

namespace RoRecomp.Model.HuggingFace;

/// <summary>How <see cref="HfExport.Write"/> stores the weights.</summary>
/// <param name="DType">Stored dtype of the floating weights: fp32 (logits identical to the policy) or bf16 (half the size).</param>
/// <param name="MaxShardBytes">Above this many bytes the weights are split into <c>model-0000i-of-0000n.safetensors</c> with <c>model.safetensors.index.json</c>.</param>
/// <param name="ExtraConfig">Keys added to <c>config.json</c> (e.g. <c>bos_token_id</c>, <c>eos_token_id</c> of the source model).</param>
/// <param name="GenerationConfig"><c>generation_config.json</c> as given (written verbatim); null writes a minimal one from <see cref="ExtraConfig"/>'s token ids.</param>
public sealed record HfExportOptions(
    ScalarType DType = ScalarType.Float32,
    long MaxShardBytes = HfExport.DefaultMaxShardBytes,
    IReadOnlyDictionary<string, JsonNode?>? ExtraConfig = null,
    string? GenerationConfig = null);

/// <summary>What <see cref="HfExport.Write"/> wrote.</summary>
/// <param name="Files">The files, in the order written (weights, index, config, generation config).</param>
/// <param name="WeightBytes">Bytes of tensor data (the index's <c>total_size</c>).</param>
/// <param name="Shards">Number of safetensors files.</param>
public sealed record HfExportResult(IReadOnlyList<string> Files, long WeightBytes, int Shards);

/// <summary>
/// Writes a policy as a Hugging Face model directory that <see cref="HfModelLoader"/> (and transformers, vLLM) loads:
/// <c>config.json</c> (<see cref="HfCheckpoint.ConfigJson"/>), <c>model.safetensors</c> or shards with
/// <c>model.safetensors.index.json</c>, and <c>generation_config.json</c>.
/// <para>
/// Tensor names: the policy transformer registers every tensor under its Hugging Face name
/// (<c>model.layers.0.self_attn.q_proj.weight</c>, ..., <c>lm_head.weight</c> only when untied), so the state dict's names
/// are the file's names in both directions: <see cref="HfCheckpoint.ReadWeights"/> loads by name and this writes by name.
/// The one mapping is the module's registrations; there is no table to keep in step.
/// </para>
/// Weights stream to disk one tensor at a time (converted to bf16 one at a time when asked), each file written durably.
/// </summary>
public static class HfExport
{
    /// <summary>Default shard limit: 5 GB, as transformers' <c>save_pretrained</c> uses.</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    /// <summary>The single-file weights name.</summary>
    public const string WeightsFile = "model.safetensors";

    /// <summary>The shard index name.</summary>
    public const string IndexFile = "model.safetensors.index.json";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The <c>torch_dtype</c> string of a stored dtype (fp32 or bf16).</summary>
    public static string TorchDtype(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.BFloat16 => "bfloat16",
        _ => throw new ArgumentException($"export stores fp32 or bf16 weights, not {dtype}", nameof(dtype)),
    };

    /// <summary>
    /// Splits tensors (in order) into shards of at most <paramref name="maxShardBytes"/> stored bytes each; a tensor larger
    /// than the limit gets a shard of its own.
    /// </summary>
    public static List<List<KeyValuePair<string, Tensor>>> PlanShards(IEnumerable<KeyValuePair<string, Tensor>> tensors, ScalarType dtype, long maxShardBytes)
    {
        if (maxShardBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxShardBytes), maxShardBytes, "the shard limit must be positive");
        var shards = new List<List<KeyValuePair<string, Tensor>>> { new() };
        long size = 0;
        foreach (var kv in tensors)
        {
            var bytes = SafeTensors.StoredBytes(kv.Value, dtype);
            if (shards[^1].Count > 0 && size + bytes > maxShardBytes)
            {
                shards.Add([]);
                size = 0;
            }
            shards[^1].Add(kv);
            size += bytes;
        }
        return shards;
    }

    /// <summary>
    /// Writes <paramref name="weights"/> (the policy's state dict, any float dtype, CPU or GPU) and <paramref name="config"/>
    /// into <paramref name="directory"/>, which must exist and be empty. <paramref name="progress"/> gets (bytes written,
    /// bytes in all) as the weights stream out.
    /// </summary>
    public static HfExportResult Write(
        string directory,
        TransformerConfig config,
        IReadOnlyDictionary<string, Tensor> weights,
        HfExportOptions options,
        Action<long, long>? progress = null)
    {
        var torchDtype = TorchDtype(options.DType);
        if (!Directory.Exists(directory) || Directory.EnumerateFileSystemEntries(directory).Any())
            throw new ArgumentException($"{directory}: the export directory must exist and be empty", nameof(directory));
        var ordered = weights.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var shards = PlanShards(ordered, options.DType, options.MaxShardBytes);
        var total = ordered.Sum(kv => SafeTensors.StoredBytes(kv.Value, options.DType));
        var files = new List<string>();
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var meta = new Dictionary<string, string> { ["format"] = "pt" };   // transformers refuses safetensors without it
        long done = 0;
        for (var i = 0; i < shards.Count; i++)
        {
            var name = shards.Count == 1
                ? WeightsFile
                : string.Create(CultureInfo.InvariantCulture, $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors");
            var before = done;
            DurableFile.WriteNew(Path.Combine(directory, name), stream =>
                SafeTensors.Write(stream, shards[i], meta, progress: n => progress?.Invoke(before + n, total), floatsAs: options.DType));
            done += shards[i].Sum(kv => SafeTensors.StoredBytes(kv.Value, options.DType));
            foreach (var kv in shards[i]) weightMap[kv.Key] = name;
            files.Add(name);
        }
        if (shards.Count > 1)
        {
            var index = new JsonObject
            {
                ["metadata"] = new JsonObject { ["total_size"] = total },
                ["weight_map"] = new JsonObject([.. weightMap.Select(kv => new KeyValuePair<string, JsonNode?>(kv.Key, kv.Value))]),
            };
            WriteJson(directory, IndexFile, index.ToJsonString(Indented) + "\n");
            files.Add(IndexFile);
        }
        WriteJson(directory, "config.json", HfCheckpoint.ConfigJson(config, torchDtype, options.ExtraConfig).ToJsonString(Indented) + "\n");
        files.Add("config.json");
        var generation = options.GenerationConfig ?? MinimalGenerationConfig(options.ExtraConfig);
        WriteJson(directory, "generation_config.json", generation);
        files.Add("generation_config.json");
        DurableFile.SyncDirectory(directory);
        return new HfExportResult(files, total, shards.Count);
    }

    private static string MinimalGenerationConfig(IReadOnlyDictionary<string, JsonNode?>? extra)
    {
        var o = new JsonObject { ["_from_model_config"] = true };
        foreach (var key in new[] { "bos_token_id", "eos_token_id", "pad_token_id" })
        {
            if (extra is not null && extra.TryGetValue(key, out var v) && v is not null) o[key] = v.DeepClone();
        }
        return o.ToJsonString(Indented) + "\n";
    }

    private static void WriteJson(string directory, string name, string json) =>
        DurableFile.WriteNew(Path.Combine(directory, name), System.Text.Encoding.UTF8.GetBytes(json));
}
