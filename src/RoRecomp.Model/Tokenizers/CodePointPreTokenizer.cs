using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace RoRecomp.Model.Tokenizers;

/// <summary>
/// A Hugging Face <c>Split</c> pre-tokenizer regex run over code points, as the reference (Rust <c>tokenizers</c> on
/// Oniguruma, or JavaScript with the <c>u</c> flag) runs it. .NET's <see cref="Regex"/> sees UTF-16 code units, so a
/// character outside the Basic Multilingual Plane is two surrogates of category <c>Cs</c>: neither <c>\p{L}</c> nor
/// <c>\p{N}</c>, and a mathematical digit such as U+1D7D8 after a space would join the space as "punctuation" instead
/// of standing alone as a number.
/// </summary>
/// <remarks>
/// The regex runs on a stand-in of the text in which each supplementary code point is one BMP character of the same
/// Unicode general category (a letter for a letter, a decimal digit for a decimal digit, ...); match bounds are mapped
/// back to the original text. This is exact for patterns built from general-category classes (<c>\p{L}</c>,
/// <c>\p{N}</c>, <c>\p{Lu}</c>, ...), <c>\s</c> (no supplementary character is white space) and ASCII literals, which
/// is what the GPT-2, Llama 3 and Qwen2 patterns are; the stand-ins are non-ASCII, so no case-insensitive ASCII literal
/// such as <c>(?i:'s)</c> matches one. A pattern naming scripts or blocks (<c>\p{IsCJK...}</c>) would see the stand-in's.
/// Text without surrogates goes to the regex unchanged.
/// </remarks>
internal sealed class CodePointPreTokenizer : PreTokenizer
{
    private readonly Regex _regex;

    /// <summary>Wraps the split regex of a <c>tokenizer.json</c>.</summary>
    public CodePointPreTokenizer(Regex regex) => _regex = regex;

    /// <summary>One BMP character per general category, of that category (index: <see cref="UnicodeCategory"/>).</summary>
    internal static readonly char[] StandIns =
    [
        '\u0391', // UppercaseLetter: Greek capital alpha
        '\u03B1', // LowercaseLetter: Greek small alpha
        '\u01C5', // TitlecaseLetter: Latin capital D with small z with caron
        '\u02B0', // ModifierLetter: modifier letter small h
        '\u4E00', // OtherLetter: CJK ideograph one
        '\u0300', // NonSpacingMark: combining grave accent
        '\u0903', // SpacingCombiningMark: Devanagari sign visarga
        '\u20DD', // EnclosingMark: combining enclosing circle
        '\u0660', // DecimalDigitNumber: Arabic-Indic digit zero
        '\u2160', // LetterNumber: Roman numeral one
        '\u00B2', // OtherNumber: superscript two
        '\u2000', // SpaceSeparator: en quad (none outside the BMP)
        '\u2028', // LineSeparator (none outside the BMP)
        '\u2029', // ParagraphSeparator (none outside the BMP)
        '\u0080', // Control (none outside the BMP)
        '\u00AD', // Format: soft hyphen (tag characters U+E0020.. of flag sequences are Format)
        '\uD800', // Surrogate (a code point is never one)
        '\uE000', // PrivateUse: first of the BMP's private use area
        '\u203F', // ConnectorPunctuation: undertie
        '\u2010', // DashPunctuation: hyphen
        '\u201A', // OpenPunctuation: single low-9 quotation mark
        '\u2046', // ClosePunctuation: right square bracket with quill
        '\u00AB', // InitialQuotePunctuation: left-pointing double angle quotation mark
        '\u00BB', // FinalQuotePunctuation: right-pointing double angle quotation mark
        '\u00A1', // OtherPunctuation: inverted exclamation mark
        '\u00AC', // MathSymbol: not sign
        '\u00A2', // CurrencySymbol: cent sign
        '\u00B4', // ModifierSymbol: acute accent
        '\u00A6', // OtherSymbol: broken bar
        '\u0378', // OtherNotAssigned
    ];

    /// <inheritdoc />
    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text)
    {
        if (string.IsNullOrEmpty(text)) return [];
        return text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') < 0 ? Split(text) : SplitByCodePoint(text);
    }

    /// <inheritdoc />
    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => PreTokenize(text.ToString());

    private IEnumerable<(int Offset, int Length)> Split(string text)
    {
        for (var m = _regex.Match(text); m.Success; m = m.NextMatch())
        {
            if (m.Length > 0) yield return (m.Index, m.Length);
        }
    }

    private IEnumerable<(int Offset, int Length)> SplitByCodePoint(string text)
    {
        // starts[i]: where the stand-in's i-th character begins in text; starts[^1] == text.Length.
        var standIn = new StringBuilder(text.Length);
        var starts = new List<int>(text.Length + 1);
        for (var i = 0; i < text.Length;)
        {
            starts.Add(i);
            if (Rune.TryGetRuneAt(text, i, out var rune) && rune.Utf16SequenceLength == 2)
            {
                standIn.Append(StandIns[(int)Rune.GetUnicodeCategory(rune)]);
                i += 2;
            }
            else
            {
                standIn.Append(text[i]); // a BMP character, or a lone surrogate kept as it is
                i++;
            }
        }
        starts.Add(text.Length);
        foreach (var (offset, length) in Split(standIn.ToString()))
        {
            yield return (starts[offset], starts[offset + length] - starts[offset]);
        }
    }
}
