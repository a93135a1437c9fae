namespace RoRecomp.Model.Tokenizers;

/// <summary>Text to token ids and back, with the special tokens the sampler and the trainer need.</summary>
public interface ITokenizer
{
    /// <summary>Number of ids (the model's vocabulary size must be at least this).</summary>
    int VocabSize { get; }

    /// <summary>Padding id (never trained on).</summary>
    int PadId { get; }

    /// <summary>End-of-sequence id (generation stops here).</summary>
    int EosId { get; }

    /// <summary>
    /// Every id that ends a response (<see cref="EosId"/> first): a chat model ends its turn with one token and its
    /// text with another (Qwen: <c>&lt;|im_end|&gt;</c> and <c>&lt;|endoftext|&gt;</c>). The sampler stops on any of them.
    /// </summary>
    IReadOnlyList<int> EndIds => [EosId];

    /// <summary>Encodes text; special-token strings become their single ids.</summary>
    int[] Encode(string text);

    /// <summary>Decodes ids; special ids become their strings, padding is dropped.</summary>
    string Decode(IEnumerable<int> ids);

    /// <summary>The id of a named special token (e.g. "&lt;/tool&gt;"), or null when this tokenizer has none.</summary>
    int? SpecialId(string token);
}
