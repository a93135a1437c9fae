using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Transformer;

namespace RoRecomp.Model.HuggingFace;

/// <summary>Builds a <see cref="PolicyTransformer"/> from a Hugging Face model directory (e.g. Qwen2.5-0.5B).</summary>
public static class HfModelLoader
{
    /// <summary>
    /// Reads <c>config.json</c> and the weights (bf16/fp16 converted to fp32) into a new model. Names map one to one; with
    /// <paramref name="strict"/> (the default) a missing or unexpected tensor is refused with the list, otherwise it is
    /// reported. A shape that does not fit the config is always refused.
    /// </summary>
    public static (PolicyTransformer Model, StateDictLoadReport Report) Load(string directory, bool strict = true)
    {
        var config = HfCheckpoint.ReadConfig(directory);
        var model = new PolicyTransformer(config);
        var weights = HfCheckpoint.ReadWeights(directory);
        try
        {
            return (model, StateDicts.Load(model, weights, strict, directory));
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
    }
}
