using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;
using static TorchSharp.torch;

namespace RoRecomp.Model.Tests.Transformer;

internal static class TinyModels
{
    /// <summary>
    /// Held while the global torch RNG is seeded and used: xunit runs test classes in parallel, and two models built
    /// from the same seed on two threads at once would otherwise draw from each other's stream.
    /// </summary>
    public static readonly object GlobalRng = new();

    /// <summary>A very small Qwen2-shaped model (GQA: 4 heads, 2 kv heads) for fast tests.</summary>
    public static PolicyTransformer Make(int seed = 1, bool tie = true, bool bias = true, int vocab = 24)
    {
        lock (GlobalRng) return MakeUnlocked(seed, tie, bias, vocab);
    }

    private static PolicyTransformer MakeUnlocked(int seed, bool tie, bool bias, int vocab)
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
