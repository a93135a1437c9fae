using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace RoRecomp.Model.Tokenizers;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c> with a byte-level BPE model (Qwen2/Qwen3, Llama 3, GPT-2 style), run through
/// Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>: the vocabulary and merges of the file, its <c>Split</c>
/// pre-tokenizer regex (matched over code points as the reference does, see <see cref="CodePointPreTokenizer"/>), NFC
/// normalisation when the file asks for it, and every added token (<c>&lt;|im_start|&gt;</c>, <c>&lt;think&gt;</c>, ...)
/// as one id. Unsupported files are refused with the reason.
/// </summary>
public sealed class HfTokenizer : ITokenizer
{
    private readonly BpeTokenizer _bpe;
    private readonly Dictionary<string, int> _added;
    private readonly Dictionary<int, string> _addedById;
    private readonly Regex? _addedSplitter;

    private HfTokenizer(BpeTokenizer bpe, Dictionary<string, int> added, int vocabSize, int eos, int pad, Regex? addedSplitter, IReadOnlyList<int> endIds)
    {
        _bpe = bpe;
        _added = added;
        _addedById = added.ToDictionary(kv => kv.Value, kv => kv.Key);
        _addedSplitter = addedSplitter;
        VocabSize = vocabSize;
        EosId = eos;
        PadId = pad;
        EndIds = endIds;
    }

    /// <inheritdoc />
    public int VocabSize { get; }

    /// <inheritdoc />
    public int PadId { get; }

    /// <inheritdoc />
    public int EosId { get; }

    /// <inheritdoc />
    public IReadOnlyList<int> EndIds { get; }

    /// <summary>
    /// This tokenizer with <paramref name="ids"/> also ending a response (<see cref="EndIds"/>: <see cref="EosId"/> first,
    /// then these, without repeats); an id outside the vocabulary is refused.
    /// </summary>
    public HfTokenizer WithEndIds(IEnumerable<int> ids)
    {
        var all = new List<int> { EosId };
        foreach (var id in ids)
        {
            if (id < 0 || id >= VocabSize) throw new ArgumentException($"end id {id} is outside the tokenizer's {VocabSize} ids");
            if (!all.Contains(id)) all.Add(id);
        }
        return new HfTokenizer(_bpe, _added, VocabSize, EosId, PadId, _addedSplitter, all);
    }

    /// <summary>Loads <c>tokenizer.json</c> (a file, or a directory holding one). <paramref name="eosToken"/> defaults to <c>&lt;|endoftext|&gt;</c> when present.</summary>
    public static HfTokenizer Load(string path, string? eosToken = null, string? padToken = null)
    {
        var file = Directory.Exists(path) ? Path.Combine(path, "tokenizer.json") : path;
        if (!File.Exists(file)) throw new FileNotFoundException($"{file}: tokenizer.json not found", file);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
        var root = doc.RootElement;
        var model = root.GetProperty("model");
        var type = model.TryGetProperty("type", out var t) ? t.GetString() : null;
        if (type != "BPE") throw new NotSupportedException($"{file}: model type '{type}' is not supported (byte-level BPE only)");

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in model.GetProperty("vocab").EnumerateObject()) vocab[p.Name] = p.Value.GetInt32();
        var merges = new List<string>();
        foreach (var m in model.GetProperty("merges").EnumerateArray())
        {
            merges.Add(m.ValueKind == JsonValueKind.Array ? $"{m[0].GetString()} {m[1].GetString()}" : m.GetString()!);
        }
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root.TryGetProperty("added_tokens", out var addedTokens))
        {
            foreach (var a in addedTokens.EnumerateArray()) added[a.GetProperty("content").GetString()!] = a.GetProperty("id").GetInt32();
        }

        var regex = FindSplitRegex(root.GetProperty("pre_tokenizer"), file);
        var normalizer = root.TryGetProperty("normalizer", out var n) && n.ValueKind == JsonValueKind.Object && n.GetProperty("type").GetString() == "NFC"
            ? new NfcNormalizer()
            : null;
        var bpe = BpeTokenizer.Create(new BpeOptions(vocab)
        {
            Merges = merges,
            ByteLevel = true,
            PreTokenizer = new CodePointPreTokenizer(new Regex(regex, RegexOptions.Compiled)),
            Normalizer = normalizer,
        });
        var size = Math.Max(vocab.Values.DefaultIfEmpty(-1).Max(), added.Values.DefaultIfEmpty(-1).Max()) + 1;
        int Id(string? name, string fallback)
        {
            var key = name ?? fallback;
            return added.TryGetValue(key, out var id) ? id : vocab.TryGetValue(key, out id) ? id
                : throw new ArgumentException($"{file}: token '{key}' is neither an added token nor in the vocabulary");
        }
        var eos = Id(eosToken, "<|endoftext|>");
        var splitter = added.Count == 0 ? null : new Regex(string.Join("|", added.Keys.OrderByDescending(k => k.Length).Select(Regex.Escape)), RegexOptions.Compiled);
        return new HfTokenizer(bpe, added, size, eos, padToken is null ? eos : Id(padToken, padToken), splitter, [eos]);
    }

    /// <inheritdoc />
    public int? SpecialId(string token) => _added.TryGetValue(token, out var id) ? id : null;

    /// <inheritdoc />
    public int[] Encode(string text)
    {
        var ids = new List<int>();
        var at = 0;
        if (_addedSplitter != null)
        {
            foreach (Match m in _addedSplitter.Matches(text))
            {
                if (m.Index > at) ids.AddRange(_bpe.EncodeToIds(text[at..m.Index]));
                ids.Add(_added[m.Value]);
                at = m.Index + m.Length;
            }
        }
        if (at < text.Length) ids.AddRange(_bpe.EncodeToIds(text[at..]));
        return [.. ids];
    }

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids)
    {
        var sb = new StringBuilder();
        var run = new List<int>();
        void Flush()
        {
            if (run.Count == 0) return;
            sb.Append(_bpe.Decode(run));
            run.Clear();
        }
        foreach (var id in ids)
        {
            if (_addedById.TryGetValue(id, out var s))
            {
                Flush();
                sb.Append(s);
            }
            else
            {
                run.Add(id);
            }
        }
        Flush();
        return sb.ToString();
    }

    private static string FindSplitRegex(JsonElement pre, string file)
    {
        if (pre.GetProperty("type").GetString() == "Split") return pre.GetProperty("pattern").GetProperty("Regex").GetString()!;
        if (pre.TryGetProperty("pretokenizers", out var list))
        {
            foreach (var p in list.EnumerateArray())
            {
                if (p.GetProperty("type").GetString() == "Split") return p.GetProperty("pattern").GetProperty("Regex").GetString()!;
            }
        }
        throw new NotSupportedException($"{file}: no Split pre-tokenizer with a regex was found (byte-level BPE with a split regex is supported)");
    }

    private sealed class NfcNormalizer : Normalizer
    {
        public override string Normalize(string original) => original.Normalize(NormalizationForm.FormC);

        public override string Normalize(ReadOnlySpan<char> original) => original.ToString().Normalize(NormalizationForm.FormC);
    }
}

/// <summary>Qwen's ChatML template: <c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c> per message, then the assistant header.</summary>
public static class ChatTemplate
{
    /// <summary>Renders messages (role, content) and, with <paramref name="addGenerationPrompt"/>, opens the assistant turn.</summary>
    public static string Render(IEnumerable<(string Role, string Content)> messages, bool addGenerationPrompt = true)
    {
        var sb = new StringBuilder();
        foreach (var (role, content) in messages) sb.Append("<|im_start|>").Append(role).Append('\n').Append(content).Append("<|im_end|>\n");
        if (addGenerationPrompt) sb.Append("<|im_start|>assistant\n");
        return sb.ToString();
    }
}
