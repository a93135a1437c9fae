using RoRecomp.Model.Tokenizers;

namespace RoRecomp.Model.Tests.Tokenizers;

public class CharTokenizerTests
{
    private static readonly CharTokenizer Tok = new("0123456789+=;", ["<think>", "</think>", "<answer>", "</answer>", "<eos>"]);

    [Fact]
    public void Special_tokens_are_single_ids_and_round_trip()
    {
        const string text = "<think>3+4=7;</think><answer>7</answer><eos>";
        var ids = Tok.Encode(text);
        Assert.Equal(5 + 6 + 1, ids.Length); // five specials as single ids + the six characters of "3+4=7;" + "7"
        Assert.Equal(text, Tok.Decode(ids));
        Assert.Equal(Tok.EosId, ids[^1]);
        Assert.Equal(Tok.SpecialId("<think>"), ids[0]);
        Assert.Null(Tok.SpecialId("<tool>"));
    }

    [Fact]
    public void Ids_are_stable_pad_and_eos_first_then_specials_then_alphabet()
    {
        Assert.Equal(0, Tok.PadId);
        Assert.Equal(1, Tok.EosId);
        Assert.Equal(2, Tok.SpecialId("<think>"));
        Assert.Equal(2 + 4 + 13, Tok.VocabSize);   // pad, eos, 4 more specials (eos listed once), 13 characters
        Assert.Equal(new[] { 6, 7 }, Tok.Encode("01"));
        Assert.Equal("01", Tok.Decode([0, 6, 0, 7]));   // padding dropped
    }

    [Fact]
    public void Unknown_characters_and_ids_are_refused_with_the_cause()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tok.Encode("1+x"));
        Assert.Contains("'x'", ex.Message);
        Assert.Contains("position 2", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.Decode([99]));
        Assert.Throws<ArgumentException>(() => new CharTokenizer("aa", []));
    }

    [Fact]
    public void A_lone_angle_bracket_is_an_ordinary_character_when_in_the_alphabet()
    {
        var t = new CharTokenizer("<>ab", ["<think>"]);
        Assert.Equal("<a><think>b>", t.Decode(t.Encode("<a><think>b>")));
        Assert.Equal(6, t.Encode("<a><think>b>").Length); // < a > <think> b >
    }
}
