using System.Text.Json;
using RoRecomp.Model.Tokenizers;

namespace RoRecomp.Model.Tests.Tokenizers;

/// <summary>
/// Qwen's real tokenizer (fetched by the test setup) against ids its own JavaScript tokenizer produced
/// (<c>make-qwen-expected.mjs</c>, which also checks them against Hugging Face's JavaScript tokenizer). The cases outside
/// the Basic Multilingual Plane were also encoded once with Hugging Face's Rust <c>tokenizers</c> 0.22.2 (the library
/// behind Python's <c>transformers</c>, through the Tokenizers.DotNet 1.4.1 NuGet wrapper): the same ids for all 41.
/// </summary>
public sealed class HfTokenizerTests
{
    private static readonly Lazy<HfTokenizer> Qwen = new(() => HfTokenizer.Load(TestAssets.QwenTokenizerJson()));

    public static TheoryData<int> Cases()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < Expected().Count; i++) data.Add(i);
        return data;
    }

    private static List<(string Text, int[] Ids)> Expected()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Tokenizers", "qwen-expected.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return [.. doc.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => (c.GetProperty("text").GetString()!, c.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray()))];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Encodes_like_the_reference_tokenizer_and_decodes_back(int index)
    {
        var (text, ids) = Expected()[index];
        Assert.Equal(ids, Qwen.Value.Encode(text));
        Assert.Equal(text, Qwen.Value.Decode(ids));
    }

    [Fact]
    public void Chat_template_special_tokens_are_single_ids()
    {
        var tok = Qwen.Value;
        var text = ChatTemplate.Render([("system", "You are helpful."), ("user", "2+2?")]);
        var ids = tok.Encode(text);
        Assert.Equal(151644, tok.SpecialId("<|im_start|>"));
        Assert.Equal(151645, tok.SpecialId("<|im_end|>"));
        Assert.Equal(151643, tok.EosId);
        Assert.Equal(3, ids.Count(i => i == 151644));
        Assert.Equal(2, ids.Count(i => i == 151645));
        Assert.EndsWith("<|im_start|>assistant\n", tok.Decode(ids));
        Assert.True(tok.VocabSize >= 151_643 + 26);
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        var ex = Assert.Throws<FileNotFoundException>(() => HfTokenizer.Load("/nonexistent/dir/tokenizer.json"));
        Assert.Contains("/nonexistent/dir/tokenizer.json", ex.Message);
    }
}
