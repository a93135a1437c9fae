using System.Globalization;
using System.Text.RegularExpressions;
using RoRecomp.Model.Tokenizers;

namespace RoRecomp.Model.Tests.Tokenizers;

/// <summary>The split regex over code points; the ids against the reference are in <see cref="HfTokenizerTests"/>.</summary>
public sealed class CodePointPreTokenizerTests
{
    private const string Qwen2 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private static string[] Split(string text) =>
        [.. new CodePointPreTokenizer(new Regex(Qwen2)).PreTokenize(text).Select(p => text.Substring(p.Offset, p.Length))];

    [Fact]
    public void Every_stand_in_is_a_bmp_character_of_its_own_category_and_not_ascii()
    {
        for (var c = 0; c < CodePointPreTokenizer.StandIns.Length; c++)
        {
            var ch = CodePointPreTokenizer.StandIns[c];
            Assert.Equal((UnicodeCategory)c, char.GetUnicodeCategory(ch));
            Assert.True(ch > 0x7F, $"{(UnicodeCategory)c}: U+{(int)ch:X4} is ASCII");
        }
        Assert.Equal(Enum.GetValues<UnicodeCategory>().Length, CodePointPreTokenizer.StandIns.Length);
    }

    [Fact]
    public void A_supplementary_digit_is_one_number_and_not_punctuation_joined_to_the_space()
    {
        // U+1D7D8 is Nd: "\p{N}" takes it alone, so the space before it is a pre-token of its own ("\s+" after
        // "\s+(?!\S)" fails); read as two Cs surrogates it matched " ?[^\s\p{L}\p{N}]+" together with the space.
        Assert.Equal(["x", " ", "𝟘", "1", "𝟘", "2"], Split("x 𝟘1𝟘2"));
    }

    [Fact]
    public void Supplementary_letters_join_words_and_symbols_stay_symbols()
    {
        // 𝐱 and 𠮷 are letters ("[^\r\n\p{L}\p{N}]?\p{L}+" takes the space before them); 😀 is So, so " ?[^\s\p{L}\p{N}]+".
        Assert.Equal(["a𝐱", " 𠮷", "1", "𠮷", " 😀👍🏽", " ok"], Split("a𝐱 𠮷1𠮷 😀👍🏽 ok"));
    }

    [Fact]
    public void A_lone_surrogate_is_kept_in_place()
    {
        var text = "a\uD835 𝟘\uDC00";
        var parts = new CodePointPreTokenizer(new Regex(Qwen2)).PreTokenize(text).ToArray();
        Assert.Equal(text.Length, parts.Sum(p => p.Length));
        Assert.Equal(["a", "\uD835", " ", "𝟘", "\uDC00"], Split(text));
    }
}
