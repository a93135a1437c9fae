using RoRecomp.Model.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace RoRecomp.Model.Transformer;

/// <summary>
/// Per-layer key/value tensors of the tokens seen so far, appended by each forward pass. Its tensors live outside
/// dispose scopes (they outlive a decoding step); <see cref="Dispose"/> frees them.
/// </summary>
public sealed class KvCache(int layers) : IDisposable
{
    private readonly Tensor?[] _k = new Tensor?[layers];
    private readonly Tensor?[] _v = new Tensor?[layers];

    /// <summary>Number of positions cached.</summary>
    public long Length => _k[0]?.shape[2] ?? 0;

    internal (Tensor K, Tensor V) Append(int layer, Tensor k, Tensor v)
    {
        var newK = _k[layer] is null ? k.alias() : cat([_k[layer]!, k], 2);
        var newV = _v[layer] is null ? v.alias() : cat([_v[layer]!, v], 2);
        _k[layer]?.Dispose();
        _v[layer]?.Dispose();
        _k[layer] = newK.DetachFromDisposeScope();
        _v[layer] = newV.DetachFromDisposeScope();
        return (_k[layer]!, _v[layer]!);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in _k.Concat(_v)) t?.Dispose();
        Array.Clear(_k);
        Array.Clear(_v);
    }
}

/// <summary>Root-mean-square layer norm: x / sqrt(mean(x^2) + eps) * weight.</summary>
public sealed class RmsNorm : Module<Tensor, Tensor>
{
    /// <summary>
    /// Submodules are registered by hand under their Hugging Face names; TorchSharp's register_module would otherwise
    /// also register every field under its C# name (a second copy of each tensor in the state dict).
    /// </summary>
    protected override void RegisterComponents()
    {
    }

    private readonly double _eps;

    public RmsNorm(int size, double eps) : base(nameof(RmsNorm))
    {
        _eps = eps;
        register_parameter("weight", Parameter(ones(size)));
    }

    /// <summary>
    /// The registered weight, looked up each time: <c>Module.to(dtype or device)</c> replaces a registered parameter with a
    /// new one, and a field kept from the constructor would still point at the old, disposed tensor.
    /// </summary>
    private Parameter Weight => get_parameter("weight")!;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var k = new ScalarScope();
        // In fp32 whatever the weights' dtype (as Hugging Face's Qwen2RMSNorm does): a bf16 mean of squares loses the small ones.
        var x32 = x.dtype == ScalarType.Float32 ? x : x.to(ScalarType.Float32);
        var norm = x32 * rsqrt((x32 * x32).mean([-1], keepdim: true).add(k.Of(_eps), ScalarScope.One));
        return (norm.to(x.dtype) * Weight).MoveToOuterDisposeScope();
    }
}

/// <summary>Grouped-query self-attention with rotary embeddings and an optional KV cache (HF names q/k/v/o_proj).</summary>
public sealed class Attention : Module
{
    /// <summary>
    /// Submodules are registered by hand under their Hugging Face names; TorchSharp's register_module would otherwise
    /// also register every field under its C# name (a second copy of each tensor in the state dict).
    /// </summary>
    protected override void RegisterComponents()
    {
    }

    private readonly Linear _q, _k, _v, _o;
    private readonly int _heads, _kvHeads, _headDim;

    public Attention(TransformerConfig c) : base(nameof(Attention))
    {
        _heads = c.NumHeads;
        _kvHeads = c.NumKvHeads;
        _headDim = c.HeadDim;
        _q = Linear(c.HiddenSize, c.NumHeads * c.HeadDim, hasBias: c.QkvBias);
        _k = Linear(c.HiddenSize, c.NumKvHeads * c.HeadDim, hasBias: c.QkvBias);
        _v = Linear(c.HiddenSize, c.NumKvHeads * c.HeadDim, hasBias: c.QkvBias);
        _o = Linear(c.NumHeads * c.HeadDim, c.HiddenSize, hasBias: false);
        register_module("q_proj", _q);
        register_module("k_proj", _k);
        register_module("v_proj", _v);
        register_module("o_proj", _o);
    }

    /// <param name="x">(B, T, hidden).</param>
    /// <param name="cos">(B, 1, T, headDim) rotary cosines of the new positions.</param>
    /// <param name="sin">(B, 1, T, headDim) rotary sines.</param>
    /// <param name="mask">(B, 1, T, S) true where query t may attend key s (S = cached + T).</param>
    /// <param name="cache">Cache to read and append to, or null.</param>
    /// <param name="layer">This layer's index in the cache.</param>
    /// <param name="scaledDotProduct">
    /// True: libtorch's <c>scaled_dot_product_attention</c> with the same boolean mask; false: the hand-written
    /// softmax(q k^T / sqrt(d), masked) v (see <see cref="PolicyTransformer.ScaledDotProductAttention"/>).
    /// </param>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, KvCache? cache, int layer, bool scaledDotProduct = false)
    {
        using var s = new ScalarScope();
        var (b, t) = (x.shape[0], x.shape[1]);
        var q = _q.forward(x).view(b, t, _heads, _headDim).transpose(1, 2);
        var k = _k.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);
        var v = _v.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);
        q = ScalarScope.Add(q * cos, RotateHalf(q) * sin);
        k = ScalarScope.Add(k * cos, RotateHalf(k) * sin);
        if (cache != null) (k, v) = cache.Append(layer, k, v);
        if (_kvHeads != _heads)
        {
            k = k.repeat_interleave(_heads / _kvHeads, dim: 1);
            v = v.repeat_interleave(_heads / _kvHeads, dim: 1);
        }
        Tensor y;
        if (scaledDotProduct)
        {
            y = functional.scaled_dot_product_attention(q, k, v, mask);
        }
        else
        {
            var scores = q.matmul(k.transpose(-2, -1)) / s.Of(Math.Sqrt(_headDim));
            scores = scores.masked_fill(mask.logical_not(), s.Of(float.NegativeInfinity));
            y = functional.softmax(scores, -1).matmul(v);
        }
        return _o.forward(y.transpose(1, 2).reshape(b, t, _heads * _headDim));
    }

    private static Tensor RotateHalf(Tensor x)
    {
        var half = x.shape[^1] / 2;
        return cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
    }
}

/// <summary>SwiGLU feed-forward: down(silu(gate(x)) * up(x)).</summary>
public sealed class SwiGlu : Module<Tensor, Tensor>
{
    /// <summary>
    /// Submodules are registered by hand under their Hugging Face names; TorchSharp's register_module would otherwise
    /// also register every field under its C# name (a second copy of each tensor in the state dict).
    /// </summary>
    protected override void RegisterComponents()
    {
    }

    private readonly Linear _gate, _up, _down;

    public SwiGlu(TransformerConfig c) : base(nameof(SwiGlu))
    {
        _gate = Linear(c.HiddenSize, c.IntermediateSize, hasBias: false);
        _up = Linear(c.HiddenSize, c.IntermediateSize, hasBias: false);
        _down = Linear(c.IntermediateSize, c.HiddenSize, hasBias: false);
        register_module("gate_proj", _gate);
        register_module("up_proj", _up);
        register_module("down_proj", _down);
    }

    public override Tensor forward(Tensor x) => _down.forward(functional.silu(_gate.forward(x)) * _up.forward(x));
}

/// <summary>One pre-norm decoder layer: x + attn(norm(x)), then + mlp(norm(x)).</summary>
public sealed class DecoderLayer : Module
{
    /// <summary>
    /// Submodules are registered by hand under their Hugging Face names; TorchSharp's register_module would otherwise
    /// also register every field under its C# name (a second copy of each tensor in the state dict).
    /// </summary>
    protected override void RegisterComponents()
    {
    }

    private readonly RmsNorm _inputNorm, _postNorm;
    private readonly Attention _attn;
    private readonly SwiGlu _mlp;

    public DecoderLayer(TransformerConfig c) : base(nameof(DecoderLayer))
    {
        _inputNorm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        _attn = new Attention(c);
        _postNorm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        _mlp = new SwiGlu(c);
        register_module("input_layernorm", _inputNorm);
        register_module("self_attn", _attn);
        register_module("post_attention_layernorm", _postNorm);
        register_module("mlp", _mlp);
    }

    /// <summary>
    /// x + attn(norm(x)), then + mlp(norm(x)); the arguments are <see cref="Attention.Forward"/>'s. The layer's
    /// temporaries are freed when it returns (autograd keeps what backward needs): without this a forward pass held every
    /// layer's (B, heads, T, S) attention scores until the model's forward ended, 10.5 GB at the peak of a 1,024-response
    /// held-out evaluation of the agentic-mixed policy (4 layers, 6 heads, contexts up to 256 positions).
    /// </summary>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, KvCache? cache, int layer, bool scaledDotProduct = false)
    {
        using var scope = NewDisposeScope();
        x = ScalarScope.Add(x, _attn.Forward(_inputNorm.forward(x), cos, sin, mask, cache, layer, scaledDotProduct));
        return ScalarScope.Add(x, _mlp.forward(_postNorm.forward(x))).MoveToOuterDisposeScope();
    }
}

/// <summary>The decoder stack (HF <c>model.*</c>): embed_tokens, layers, norm.</summary>
public sealed class DecoderStack : Module
{
    /// <summary>
    /// Submodules are registered by hand under their Hugging Face names; TorchSharp's register_module would otherwise
    /// also register every field under its C# name (a second copy of each tensor in the state dict).
    /// </summary>
    protected override void RegisterComponents()
    {
    }

    private readonly Embedding _embed;
    private readonly ModuleList<DecoderLayer> _layers;
    private readonly RmsNorm _norm;

    public DecoderStack(TransformerConfig c) : base(nameof(DecoderStack))
    {
        _embed = Embedding(c.VocabSize, c.HiddenSize);
        _layers = new ModuleList<DecoderLayer>([.. Enumerable.Range(0, c.NumLayers).Select(_ => new DecoderLayer(c))]);
        _norm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        register_module("embed_tokens", _embed);
        register_module("layers", _layers);
        register_module("norm", _norm);
    }

    /// <summary>The token embedding (shared with the output head when embeddings are tied).</summary>
    public Embedding EmbedTokens => _embed;

    /// <summary>
    /// Hidden states after the final norm. <paramref name="checkpoint"/>: each layer keeps only its input for backward
    /// and recomputes its activations there (<see cref="CheckpointedLayer"/>); it applies only where it can help: with
    /// gradients on, without a KV cache, and when the layer's input requires a gradient.
    /// </summary>
    public Tensor Forward(Tensor tokens, Tensor cos, Tensor sin, Tensor mask, KvCache? cache, bool scaledDotProduct = false, bool checkpoint = false)
    {
        var x = _embed.forward(tokens);
        for (var i = 0; i < _layers.Count; i++)
        {
            x = checkpoint && cache is null && is_grad_enabled() && x.requires_grad
                ? CheckpointedLayer.apply(x, cos, sin, mask, _layers[i], scaledDotProduct)
                : _layers[i].Forward(x, cos, sin, mask, cache, i, scaledDotProduct);
        }
        return _norm.forward(x);
    }
}

/// <summary>
/// The policy: a decoder-only transformer with the Qwen2/Llama architecture (RMSNorm, rotary embeddings, SwiGLU,
/// grouped-query attention, optional QKV bias, tied or untied embeddings). Its state-dict names are Hugging Face's
/// (<c>model.layers.0.self_attn.q_proj.weight</c>, ..., <c>lm_head.weight</c> when untied), so HF weights load by name.
/// Not thread-safe: one instance per actor.
/// </summary>
public sealed class PolicyTransformer : Module
{
    /// <summary>
    /// Submodules are registered by hand under their Hugging Face names; TorchSharp's register_module would otherwise
    /// also register every field under its C# name (a second copy of each tensor in the state dict).
    /// </summary>
    protected override void RegisterComponents()
    {
    }

    private readonly DecoderStack _model;
    private readonly Linear? _lmHead;
    private readonly float[] _invFreq;

    /// <summary>Builds the model with random weights (seed with <c>torch.manual_seed</c> first for reproducibility).</summary>
    public PolicyTransformer(TransformerConfig config) : base(nameof(PolicyTransformer))
    {
        Config = config.Validate();
        _model = new DecoderStack(config);
        register_module("model", _model);
        if (!config.TieEmbeddings)
        {
            _lmHead = Linear(config.HiddenSize, config.VocabSize, hasBias: false);
            register_module("lm_head", _lmHead);
        }
        _invFreq = [.. Enumerable.Range(0, config.HeadDim / 2).Select(i => (float)(1.0 / Math.Pow(config.RopeTheta, 2.0 * i / config.HeadDim)))];
        using (no_grad())
        {
            foreach (var (name, p) in named_parameters())
            {
                if (name.EndsWith("weight", StringComparison.Ordinal) && p.dim() == 2) init.normal_(p, 0, 0.02);
                else if (name.EndsWith("bias", StringComparison.Ordinal)) init.zeros_(p);
            }
        }
    }

    /// <summary>The config it was built with.</summary>
    public TransformerConfig Config { get; }

    /// <summary>
    /// Attention through libtorch's fused <c>scaled_dot_product_attention</c> (same boolean mask: causal, padding, and
    /// the KV-cache positions; grouped-query heads repeated as before) instead of the hand-written
    /// softmax(q k^T / sqrt(d)) v. Off by default: its results equal the hand-written path only within float rounding
    /// (it scales and accumulates in another order), so switching it on changes seeded runs in the last bits.
    /// </summary>
    public bool ScaledDotProductAttention { get; set; }

    /// <summary>
    /// Activation checkpointing per decoder layer: in a forward pass with gradients, each layer keeps only its input
    /// and recomputes its activations during backward (one extra forward of the layers; activation memory per layer
    /// drops to one hidden-state tensor). Off by default. Gradients equal those without it (same operations, recomputed).
    /// </summary>
    public bool ActivationCheckpointing { get; set; }

    /// <summary>A new, empty KV cache for this model.</summary>
    public KvCache NewCache() => new(Config.NumLayers);

    /// <summary>
    /// Logits (B, T, vocab) for <paramref name="tokens"/> (B, T, int64) at <paramref name="positions"/> (B, T, int64).
    /// <paramref name="keyMask"/> (B, S) is true for real (non-padding) keys over the cached positions plus these T; each
    /// query attends causally to real keys, and always to itself (so padding rows never produce NaN).
    /// </summary>
    /// <param name="tokens">(B, T) token ids.</param>
    /// <param name="positions">(B, T) positions.</param>
    /// <param name="keyMask">(B, S) real keys.</param>
    /// <param name="cache">KV cache to read and extend, or null.</param>
    /// <param name="lastOnly">Only the last position's logits, (B, 1, vocab): what a sampler's prefill needs. With a real
    /// vocabulary (150k ids) the logits of a whole prompt batch are the largest tensor of sampling.</param>
    public Tensor Forward(Tensor tokens, Tensor positions, Tensor keyMask, KvCache? cache = null, bool lastOnly = false)
    {
        using var scope = NewDisposeScope();
        using var n = new ScalarScope();
        var t = tokens.shape[1];
        var past = cache?.Length ?? 0;
        var s = past + t;
        if (keyMask.shape[1] != s) throw new ArgumentException($"key mask covers {keyMask.shape[1]} positions, expected {s} ({past} cached + {t} new)");
        var device = tokens.device;

        var freqs = positions.to(ScalarType.Float32).unsqueeze(-1) * tensor(_invFreq, device: device);   // (B, T, D/2)
        var emb = cat([freqs, freqs], -1).unsqueeze(1);                                                     // (B, 1, T, D)
        var dtype = _model.EmbedTokens.weight!.dtype;                                                        // bf16 for a sampler's bf16 copy
        var (cos, sin) = (emb.cos().to(dtype), emb.sin().to(dtype));

        var q = arange(n.Of(past), n.Of(s), n.Of(1), device: device).unsqueeze(1);   // absolute index of each query
        var k = arange(n.Of(0), n.Of(s), n.Of(1), device: device).unsqueeze(0);
        var causal = k.le(q);                                             // (T, S)
        var mask = causal.unsqueeze(0).logical_and(keyMask.unsqueeze(1)).logical_or(k.eq(q).unsqueeze(0)).unsqueeze(1); // (B,1,T,S)

        var h = _model.Forward(tokens, cos, sin, mask, cache, ScaledDotProductAttention, ActivationCheckpointing);
        if (lastOnly) h = h.narrow(1, h.shape[1] - 1, 1);
        var logits = _lmHead is null ? h.matmul(_model.EmbedTokens.weight!.t()) : _lmHead.forward(h);
        return logits.MoveToOuterDisposeScope();
    }
}
