namespace RoRecomp.Model.Transformer;

/// <summary>
/// Size and shape of the policy transformer (Qwen2 / Llama architecture). Field meanings follow Hugging Face's
/// <c>config.json</c>: vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
/// num_key_value_heads, max_position_embeddings, rope_theta, rms_norm_eps, (attention bias), tie_word_embeddings.
/// </summary>
public sealed record TransformerConfig(
    int VocabSize,
    int HiddenSize,
    int IntermediateSize,
    int NumLayers,
    int NumHeads,
    int NumKvHeads,
    int MaxPositions,
    double RopeTheta = 10000.0,
    double RmsNormEps = 1e-6,
    bool QkvBias = true,
    bool TieEmbeddings = true)
{
    /// <summary>Width of one attention head.</summary>
    public int HeadDim => HiddenSize / NumHeads;

    /// <summary>
    /// The tiny preset that trains on 2 CPU cores: 4 layers, width 192, 6 heads (2 key/value heads), SwiGLU width 512,
    /// 256 positions; about 1.6M parameters plus the embedding.
    /// </summary>
    public static TransformerConfig Tiny(int vocabSize) => new(vocabSize, 192, 512, 4, 6, 2, 256);

    /// <summary>
    /// A micro policy for tests and the chaos harness, which measure the machinery rather than the policy: 2 layers,
    /// width 32, 2 heads (1 key/value head), SwiGLU width 64, 160 positions; samples and trains in milliseconds.
    /// </summary>
    public static TransformerConfig Micro(int vocabSize) => new(vocabSize, 32, 64, 2, 2, 1, 160);

    /// <summary>The names <see cref="Preset"/> accepts.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["qwen2.5-0.5b", "qwen2.5-1.5b"];

    /// <summary>
    /// The shape of a public model, for random-init benchmarks at real sizes (weights are not loaded here):
    /// <c>qwen2.5-0.5b</c> (hidden 896, 24 layers, 14 heads, 2 key/value heads, SwiGLU 4864, about 494M parameters) and
    /// <c>qwen2.5-1.5b</c> (hidden 1536, 28 layers, 12 heads, 2 key/value heads, SwiGLU 8960, about 1.54B parameters), both
    /// with vocabulary 151,936, tied embeddings, QKV bias, rope theta 1e6, RMS eps 1e-6 and 32,768 positions (the Instruct
    /// models' <c>max_position_embeddings</c>; it only bounds the sampler's prompt + new tokens). Unknown names throw
    /// <see cref="ArgumentException"/> listing <see cref="PresetNames"/>.
    /// </summary>
    public static TransformerConfig Preset(string name) => name.ToLowerInvariant() switch
    {
        "qwen2.5-0.5b" => new(151_936, 896, 4864, 24, 14, 2, 32_768, RopeTheta: 1e6, RmsNormEps: 1e-6, QkvBias: true, TieEmbeddings: true),
        "qwen2.5-1.5b" => new(151_936, 1536, 8960, 28, 12, 2, 32_768, RopeTheta: 1e6, RmsNormEps: 1e-6, QkvBias: true, TieEmbeddings: true),
        _ => throw new ArgumentException($"unknown model preset '{name}'; known: {string.Join(", ", PresetNames)}", nameof(name)),
    };

    /// <summary>Throws <see cref="ArgumentException"/> naming the inconsistent field.</summary>
    public TransformerConfig Validate()
    {
        if (VocabSize < 1 || HiddenSize < 1 || IntermediateSize < 1 || NumLayers < 1 || NumHeads < 1 || NumKvHeads < 1 || MaxPositions < 1)
            throw new ArgumentException($"model config {this}: every size must be >= 1");
        if (HiddenSize % NumHeads != 0) throw new ArgumentException($"model config: hidden size {HiddenSize} is not a multiple of {NumHeads} heads");
        if (NumHeads % NumKvHeads != 0) throw new ArgumentException($"model config: {NumHeads} heads are not a multiple of {NumKvHeads} key/value heads");
        if (HeadDim % 2 != 0) throw new ArgumentException($"model config: head dim {HeadDim} must be even (rotary embeddings)");
        return this;
    }

    /// <summary>Parameter count (tied embeddings counted once).</summary>
    public long ParameterCount()
    {
        long h = HiddenSize, kv = (long)NumKvHeads * HeadDim;
        var attn = (h * h) + (2 * h * kv) + (h * h) + (QkvBias ? h + (2 * kv) : 0);
        var mlp = 3 * h * IntermediateSize;
        var layer = attn + mlp + (2 * h);
        return ((long)VocabSize * h * (TieEmbeddings ? 1 : 2)) + (NumLayers * layer) + h;
    }
}
