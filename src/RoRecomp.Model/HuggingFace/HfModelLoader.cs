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
        var model = new PolicyTransformer(HfCheckpoint.ReadConfig(directory));
        return (model, LoadInto(model, directory, strict));
    }

    /// <summary>
    /// Copies the directory's weights into <paramref name="model"/> (converted to its dtype and device: fp32 for a learner,
    /// bf16 for a bf16 sampler copy); <paramref name="strict"/> as in <see cref="Load"/>.
    /// </summary>
    public static StateDictLoadReport LoadInto(PolicyTransformer model, string directory, bool strict = true)
    {
        var weights = HfCheckpoint.ReadWeights(directory);
        try
        {
            return StateDicts.Load(model, weights, strict, directory);
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
    }
}
