using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;
using static TorchSharp.torch;

namespace RoRecomp.Model.Tests.Transformer;

internal static class TinyModels
{
    /// <summary>A very small Qwen2-shaped model (GQA: 4 heads, 2 kv heads) for fast tests.</summary>
    public static PolicyTransformer Make(int seed = 1, bool tie = true, bool bias = true, int vocab = 24)
    {
        TorchRuntime.EnsureLoaded();
        TorchRuntime.ManualSeed(seed);
        var model = new PolicyTransformer(new TransformerConfig(vocab, 32, 48, 2, 4, 2, 64, QkvBias: bias, TieEmbeddings: tie));
        // Larger than the 0.02 init so logits differ visibly between tokens and positions.
        using (no_grad())
        using (var k = new ScalarScope())
        {
            foreach (var p in model.parameters()) if (p.dim() == 2) p.mul_(k.Of(10));
        }
        return model;
    }
}
