using System.Collections.Frozen;
using System.Text;

namespace RoRecomp.Model.Tokenizers;

/// <summary>
/// Character-level tokenizer for the synthetic tasks: id 0 = <c>&lt;pad&gt;</c>, 1 = <c>&lt;eos&gt;</c>, then the named special
/// tokens (each one id, e.g. <c>&lt;think&gt;</c>), then one id per alphabet character, in the given order. The ids depend only
/// on (alphabet, specials), so a checkpoint and the task agree on them. A character outside the alphabet is an error that
/// names it and its position (model output is decoded, never encoded, so this only fires on bad task data).
/// </summary>
public sealed class CharTokenizer : ITokenizer
{
    /// <summary>Padding token string.</summary>
    public const string Pad = "<pad>";

    /// <summary>End-of-sequence token string.</summary>
    public const string Eos = "<eos>";

    private readonly string[] _pieces;
    private readonly FrozenDictionary<char, int> _charIds;
    private readonly FrozenDictionary<string, int> _specialIds;
    private readonly string[] _specialsLongestFirst;

    /// <summary>Builds the vocabulary; duplicates and specials that are single alphabet characters are refused.</summary>
    public CharTokenizer(string alphabet, IEnumerable<string> specials)
    {
        var specialList = new List<string> { Pad, Eos };
        foreach (var s in specials)
        {
            if (string.IsNullOrEmpty(s)) throw new ArgumentException("a special token must not be empty", nameof(specials));
            if (!specialList.Contains(s, StringComparer.Ordinal)) specialList.Add(s);
        }
        var chars = new List<char>();
        foreach (var c in alphabet)
        {
            if (chars.Contains(c)) throw new ArgumentException($"alphabet has '{c}' twice", nameof(alphabet));
            chars.Add(c);
        }
        _pieces = [.. specialList, .. chars.Select(c => c.ToString())];
        _specialIds = specialList.Select((s, i) => (s, i)).ToFrozenDictionary(x => x.s, x => x.i, StringComparer.Ordinal);
        _charIds = chars.Select((c, i) => (c, i + specialList.Count)).ToFrozenDictionary(x => x.c, x => x.Item2);
        _specialsLongestFirst = [.. specialList.OrderByDescending(s => s.Length)];
        Alphabet = alphabet;
        Specials = [.. specialList];
    }

    /// <summary>The alphabet, in id order.</summary>
    public string Alphabet { get; }

    /// <summary>The special tokens, in id order (pad, eos first).</summary>
    public IReadOnlyList<string> Specials { get; }

    /// <inheritdoc />
    public int VocabSize => _pieces.Length;

    /// <inheritdoc />
    public int PadId => 0;

    /// <inheritdoc />
    public int EosId => 1;

    /// <inheritdoc />
    public int? SpecialId(string token) => _specialIds.TryGetValue(token, out var id) ? id : null;

    /// <inheritdoc />
    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            if (text[i] == '<' && MatchSpecial(text, i) is { } special)
            {
                ids.Add(_specialIds[special]);
                i += special.Length;
                continue;
            }
            if (!_charIds.TryGetValue(text[i], out var id))
                throw new ArgumentException($"character '{text[i]}' (U+{(int)text[i]:X4}) at position {i} of \"{Truncate(text)}\" is not in the tokenizer's alphabet \"{Alphabet}\"", nameof(text));
            ids.Add(id);
            i++;
        }
        return [.. ids];
    }

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids)
    {
        var sb = new StringBuilder();
        foreach (var id in ids)
        {
            if (id == PadId) continue;
            if (id < 0 || id >= _pieces.Length) throw new ArgumentOutOfRangeException(nameof(ids), id, $"token id outside the vocabulary [0, {_pieces.Length})");
            sb.Append(_pieces[id]);
        }
        return sb.ToString();
    }

    private string? MatchSpecial(string text, int at)
    {
        foreach (var s in _specialsLongestFirst)
        {
            if (string.CompareOrdinal(text, at, s, 0, s.Length) == 0) return s;
        }
        return null;
    }

    private static string Truncate(string s) => s.Length <= 60 ? s : s[..57] + "...";
}
