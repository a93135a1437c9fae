using System.Text.Json;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Transformer;

namespace RoRecomp.Training.Steps;

/// <summary>The policy's weights as the bytes that travel from the learner to samplers (safetensors of its state dict).</summary>
public static class PolicyWeights
{
    /// <summary>The weights of <paramref name="model"/> as safetensors bytes.</summary>
    public static byte[] Serialize(PolicyTransformer model) => SafeTensors.Serialize(model.state_dict());

    /// <summary>The model shape as JSON (what a sampler needs to build its copy).</summary>
    public static string ConfigJson(TransformerConfig config) => JsonSerializer.Serialize(config);

    /// <summary>Reads a model shape sent as <see cref="ConfigJson"/>; <paramref name="source"/> names it in errors.</summary>
    public static TransformerConfig ParseConfig(string json, string source) =>
        JsonSerializer.Deserialize<TransformerConfig>(json) ?? throw new InvalidOperationException($"{source} came without a model config");

    /// <summary>
    /// Loads policy weights (safetensors bytes, as the learner serialises its state dict) into a sampler's model copy
    /// and puts it in eval mode; <paramref name="source"/> names them in errors.
    /// </summary>
    public static void Load(PolicyTransformer model, byte[] weights, string source)
    {
        var content = SafeTensors.Parse(weights, source);
        var tensors = content.ToDictionary();
        try
        {
            StateDicts.Load(model, tensors, strict: true, source);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
        model.eval();
    }
}
