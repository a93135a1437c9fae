using RoRecomp.Model.Sampling;
using RoRecomp.Model.Training;
using RoRecomp.Model.Transformer;
using static TorchSharp.torch;

namespace RoRecomp.Model.Tests.Transformer;

public class TransformerTests
{
    [Fact]
    public void State_dict_uses_hugging_face_names()
    {
        var names = TinyModels.Make(tie: false).state_dict().Keys.ToHashSet();
        Assert.Contains("model.embed_tokens.weight", names);
        Assert.Contains("model.layers.1.self_attn.q_proj.bias", names);
        Assert.Contains("model.layers.0.mlp.gate_proj.weight", names);
        Assert.Contains("model.layers.0.post_attention_layernorm.weight", names);
        Assert.Contains("model.norm.weight", names);
        Assert.Contains("lm_head.weight", names);
        Assert.DoesNotContain("lm_head.weight", TinyModels.Make(tie: true).state_dict().Keys);
        Assert.DoesNotContain("model.layers.0.self_attn.o_proj.bias", names);
        // Exactly the Hugging Face set: embed + norm + lm_head + 2 layers x (2 norms, q/k/v weight+bias, o, gate/up/down).
        // (TorchSharp's register_module also registers fields by their C# names unless the module opts out.)
        Assert.Equal(3 + (2 * 12), names.Count);
        Assert.DoesNotContain(names, n => n.Contains("._", StringComparison.Ordinal));
        var cfg = TransformerConfig.Tiny(40);
        var model = new PolicyTransformer(cfg);
        Assert.Equal(cfg.ParameterCount(), model.parameters().Sum(p => p.numel()));
        Assert.InRange(cfg.ParameterCount(), 1_000_000, 5_000_000);
    }

    [Fact]
    public void A_decoder_layer_frees_its_temporaries_when_it_returns_and_gradients_still_flow()
    {
        // Without the layer's own scope a forward pass kept every layer's (B, heads, T, S) attention scores alive until
        // the model's forward returned: 10.5 GB at the peak of a 1,024-response held-out evaluation.
        using var scope = NewDisposeScope();
        var c = TransformerConfig.Micro(16);
        var layer = new DecoderLayer(c);
        var (b, t, d) = (2, 5, c.HiddenSize / c.NumHeads);
        var x = randn(b, t, c.HiddenSize).requires_grad_(true);
        var cos = ones(b, 1, t, d);
        var sin = zeros(b, 1, t, d);
        var mask = ones(t, t, dtype: ScalarType.Bool).tril().expand(b, 1, t, t);
        var before = scope.DisposablesCount;
        var y = layer.Forward(x, cos, sin, mask, null, 0);
        Assert.Equal(before + 1, scope.DisposablesCount);   // only the output is left to the caller
        y.sum().backward();
        Assert.NotNull(x.grad);
        Assert.True(x.grad!.abs().sum().item<float>() > 0);
        Assert.All(layer.parameters(), p => Assert.NotNull(p.grad));
    }

    [Fact]
    public void Kv_cache_logits_equal_full_recomputation_with_left_padding()
    {
        using var scope = NewDisposeScope();
        var model = TinyModels.Make();
        model.eval();
        using var ng = no_grad();
        // Row 0: 3 pads then 5 tokens; row 1: 8 tokens. Then 4 decode steps.
        var seqs = new[] { new long[] { 0, 0, 0, 5, 6, 7, 8, 9, 10, 11, 12, 13 }, new long[] { 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17 } };
        var real = new[] { Enumerable.Range(0, 12).Select(j => j >= 3).ToArray(), Enumerable.Repeat(true, 12).ToArray() };
        var pos = new[] { Enumerable.Range(0, 12).Select(j => (long)Math.Max(0, j - 3)).ToArray(), Enumerable.Range(0, 12).Select(j => (long)j).ToArray() };
        Tensor T(long[][] x, int from, int to) => tensor(x.SelectMany(r => r[from..to]).ToArray(), [2, to - from]);
        Tensor M(bool[][] x, int to) => tensor(x.SelectMany(r => r[..to]).ToArray(), [2, to]);

        var full = model.Forward(T(seqs, 0, 12), T(pos, 0, 12), M(real, 12));
        using var cache = model.NewCache();
        var prefill = model.Forward(T(seqs, 0, 8), T(pos, 0, 8), M(real, 8), cache);
        Assert.True(prefill.allclose(full[.., ..8, ..], rtol: 1e-4, atol: 1e-4));
        for (var t = 8; t < 12; t++)
        {
            var step = model.Forward(T(seqs, t, t + 1), T(pos, t, t + 1), M(real, t + 1), cache);
            Assert.True(step.allclose(full[.., t..(t + 1), ..], rtol: 1e-4, atol: 1e-4), $"decode step {t} differs");
        }
        // Left padding does not change a row's real logits: row 0 alone, unpadded.
        var alone = model.Forward(tensor(seqs[0][3..], [1, 9]), tensor(pos[0][3..], [1, 9]), ones(1, 9, dtype: ScalarType.Bool));
        Assert.True(alone.allclose(full[0..1, 3.., ..], rtol: 1e-4, atol: 1e-4));
        Assert.False(full.isnan().any().item<bool>());
    }

    [Fact]
    public void Greedy_generation_is_the_same_with_and_without_the_cache_and_top_k_1_is_greedy()
    {
        var model = TinyModels.Make(2);
        var prompts = new[] { new[] { 3, 4, 5 }, new[] { 6, 7, 8, 9, 10, 11 }, new[] { 12 } };
        var o = new SamplingOptions(12, EosId: 1, PadId: 0, Temperature: 0);
        var a = PolicySampler.Generate(model, prompts, o, 1);
        var b = PolicySampler.Generate(model, prompts, o with { UseKvCache = false }, 1);
        var c = PolicySampler.Generate(model, prompts, o with { Temperature = 1.0, TopK = 1 }, 99);
        for (var i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(a[i].Tokens, b[i].Tokens);
            Assert.Equal(a[i].Tokens, c[i].Tokens);
            Assert.Equal(a[i].LogProbs, b[i].LogProbs, (x, y) => Math.Abs(x - y) < 1e-4);
        }
    }

    [Fact]
    public void Sampling_is_reproducible_under_a_seed_and_stop_tokens_end_rows()
    {
        var model = TinyModels.Make(3);
        var prompts = Enumerable.Range(0, 6).Select(i => new[] { 2 + i, 3 + i }).ToArray();
        var o = new SamplingOptions(16, EosId: 1, PadId: 0, Temperature: 1.0, TopP: 0.9);
        var a = PolicySampler.Generate(model, prompts, o, 7);
        var b = PolicySampler.Generate(model, prompts, o, 7);
        Assert.Equal(a.Select(x => string.Join(",", x.Tokens)), b.Select(x => string.Join(",", x.Tokens)));
        var c = PolicySampler.Generate(model, prompts, o, 8);
        Assert.NotEqual(a.Select(x => string.Join(",", x.Tokens)), c.Select(x => string.Join(",", x.Tokens)));

        var stops = Enumerable.Range(2, 22).ToArray(); // almost every token stops: rows end after one token
        var s = PolicySampler.Generate(model, prompts, o with { StopTokenIds = stops }, 7);
        Assert.All(s, g =>
        {
            Assert.True(g.Tokens.Length == 16 || g.Reason != StopReason.MaxTokens);
            if (g.Reason == StopReason.StopToken) Assert.Contains(g.Tokens[^1], stops);
            Assert.Equal(g.Tokens.Length, g.LogProbs.Length);
        });
        Assert.Contains(s, g => g.Reason == StopReason.StopToken && g.Tokens.Length < 16);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(0.7)]
    public void Recorded_log_probs_equal_recomputed_ones(double temperature)
    {
        using var scope = NewDisposeScope();
        var model = TinyModels.Make(4);
        var prompts = new[] { new[] { 3, 4, 5, 6 }, new[] { 7, 8 } };
        var gen = PolicySampler.Generate(model, prompts, new SamplingOptions(10, 1, 0, Temperature: temperature), 3);
        using var ng = no_grad();
        var scores = LogProbs.Compute(model, [.. prompts.Zip(gen, (p, g) => new ScoredSequence(p, g.Tokens))], temperature);
        for (var i = 0; i < 2; i++)
        {
            var recomputed = scores.LogProbs[i].data<float>().ToArray()[..gen[i].Tokens.Length];
            Assert.Equal(gen[i].LogProbs, recomputed, (x, y) => Math.Abs(x - y) < 1e-4);
        }
    }

    [Fact]
    public void Bad_sampling_options_are_refused()
    {
        var model = TinyModels.Make();
        Assert.Throws<ArgumentException>(() => PolicySampler.Generate(model, [[1]], new SamplingOptions(0, 1, 0), 1));
        Assert.Contains("top-p", Assert.Throws<ArgumentException>(() => PolicySampler.Generate(model, [[1]], new SamplingOptions(4, 1, 0, TopP: 0), 1)).Message);
        Assert.Contains("exceeds", Assert.Throws<ArgumentException>(() => PolicySampler.Generate(model, [[1]], new SamplingOptions(100, 1, 0), 1)).Message);
    }
}
