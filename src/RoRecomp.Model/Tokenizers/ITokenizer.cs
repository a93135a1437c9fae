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

    /// <summary>Encodes text; special-token strings become their single ids.</summary>
    int[] Encode(string text);

    /// <summary>Decodes ids; special ids become their strings, padding is dropped.</summary>
    string Decode(IEnumerable<int> ids);

    /// <summary>The id of a named special token (e.g. "&lt;/tool&gt;"), or null when this tokenizer has none.</summary>
    int? SpecialId(string token);
}
