using RoRecomp.Tasks;
using RoRecomp.Tasks.Datasets;

namespace RoRecomp.Tasks.Tests;

public sealed class JsonlDatasetTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-tasks-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, params string[] lines)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Loads_gsm8k_rows_and_extracts_the_answer_after_hashes()
    {
        var path = Write("gsm.jsonl",
            """{"question": "Natalia sold 48 clips and then 24. How many?", "answer": "48+24=72\n#### 72"}""",
            "",
            """{"question": "Big?", "answer": "It is 1,000.\n#### 1,000"}""");
        var ds = JsonlDataset.Load(path, JsonlFormat.Gsm8k);
        Assert.Equal(2, ds.Problems.Length);
        Assert.Equal("72", ds.Problems[0].Answer);
        Assert.Equal(3, ds.Problems[1].Line);
        Assert.Equal("1,000", ds.Problems[1].Answer);
    }

    [Fact]
    public void Loads_math_rows_with_nested_boxed_answers()
    {
        var path = Write("math.jsonl", """{"problem": "Half of one?", "solution": "It is $\\boxed{\\frac{1}{2}}$."}""");
        var ds = JsonlDataset.Load(path, JsonlFormat.Math);
        Assert.Equal("\\frac{1}{2}", ds.Problems[0].Answer);
    }

    [Theory]
    [InlineData("{not json", "invalid JSON")]
    [InlineData("[1, 2]", "not a JSON object")]
    [InlineData("""{"answer": "#### 1"}""", "missing field 'question'")]
    [InlineData("""{"question": "q", "answer": {"x": 1}}""", "field 'answer' is Object")]
    [InlineData("""{"question": "q", "answer": "no hashes"}""", "no answer in Gsm8k style")]
    public void A_malformed_row_fails_with_file_and_line(string badRow, string expected)
    {
        var path = Write("bad.jsonl", """{"question": "q", "answer": "#### 1"}""", badRow);
        var e = Assert.Throws<DatasetFormatException>(() => JsonlDataset.Load(path, JsonlFormat.Gsm8k));
        Assert.StartsWith($"{path}:2: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Contains("max-skipped", e.Message, StringComparison.Ordinal);
        Assert.Equal(2, e.Line);
    }

    [Fact]
    public void Malformed_rows_are_skipped_and_counted_when_configured()
    {
        var path = Write("mixed.jsonl", """{"q": "a", "a": "1"}""", "oops", """{"q": "b"}""", """{"q": "c", "a": 3}""");
        var ds = JsonlDataset.Load(path, new JsonlFormat("q", "a", AnswerStyle.Raw, SkipMalformed: true));
        Assert.Equal(["1", "3"], ds.Problems.Select(p => p.Answer));
        Assert.Equal(2, ds.Skipped.Length);
        Assert.StartsWith($"{path}:2: invalid JSON", ds.Skipped[0], StringComparison.Ordinal);
        Assert.StartsWith($"{path}:3: missing field 'a'", ds.Skipped[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_or_empty_files_say_so()
    {
        Assert.Contains("does not exist", Assert.Throws<FileNotFoundException>(() => JsonlDataset.Load(Path.Combine(_dir, "none.jsonl"), JsonlFormat.Gsm8k)).Message, StringComparison.Ordinal);
        var empty = Write("empty.jsonl", "");
        Assert.Contains("no usable rows", Assert.Throws<DatasetFormatException>(() => JsonlDataset.Load(empty, JsonlFormat.Gsm8k)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Jsonl_task_streams_disjoint_splits_deterministically_and_verifies_with_the_math_verifier()
    {
        var rows = Enumerable.Range(0, 200).Select(i => $$"""{"question": "What is {{i}} + {{i}}?", "answer": "{{i}}+{{i}}={{2 * i}}\n#### {{2 * i}}"}""").ToArray();
        var path = Write("train.jsonl", rows);
        var options = new JsonlTaskOptions(path, null, JsonlFormat.Gsm8k, PromptTemplate: "Q: {question}\nA:", Seed: 4);
        var task = (JsonlTask)TaskRegistry.Create("jsonl", new TaskSettings(Jsonl: options));
        var again = new JsonlTask(options);
        Assert.Equal(200, task.DistinctPrompts(Split.Train) + task.DistinctPrompts(Split.Test));
        var train = task.Prompts(Split.Train, 0, (int)task.DistinctPrompts(Split.Train)).ToList();
        Assert.Equal(train.Count, train.Select(p => p.Text).Distinct().Count());
        var test = task.Prompts(Split.Test, 0, (int)task.DistinctPrompts(Split.Test)).Select(p => p.Text).ToHashSet();
        Assert.Empty(test.Intersect(train.Select(p => p.Text)));
        Assert.Equal(task.GetPrompt(Split.Train, 1234).Text, again.GetPrompt(Split.Train, 1234).Text);
        Assert.StartsWith("Q: What is", train[0].Text, StringComparison.Ordinal);

        var p = task.Resolve("train-000007");
        Assert.True(task.Verify(p, $"The answer is \\boxed{{{p.Answer}.0}}").Correct);
        Assert.False(task.Verify(p, "The answer is \\boxed{-1}").Correct);
        Assert.True(task.Verify(p, task.Trace(p, new Random(0))).Correct);
        Assert.Empty(task.Alphabet);
    }
    [Fact]
    public void Auto_fields_and_style_read_gsm8k_math_and_raw_rows_alike()
    {
        var path = Write("mixed.jsonl",
            """{"question": "2+2?", "answer": "2+2=4\n#### 4"}""",
            """{"problem": "Half of 3?", "solution": "It is $\\boxed{\\frac{3}{2}}$."}""",
            """{"question": "Capital letter after A?", "answer": "B"}""");
        var ds = JsonlDataset.Load(path, JsonlFormat.Auto);
        Assert.Equal(["2+2?", "Half of 3?", "Capital letter after A?"], ds.Problems.Select(p => p.Question));
        Assert.Equal(["4", "\\frac{3}{2}", "B"], ds.Problems.Select(p => p.Answer));
        Assert.Empty(ds.Skipped);
    }

    [Fact]
    public void An_invalid_utf8_row_is_skipped_and_counted_with_its_line()
    {
        var path = Path.Combine(_dir, "bytes.jsonl");
        var good = System.Text.Encoding.UTF8.GetBytes("""{"question": "1+1?", "answer": "#### 2"}""" + "\n");
        byte[] bad = [.. System.Text.Encoding.UTF8.GetBytes("""{"question": "caf"""), 0xC3, 0x28, .. System.Text.Encoding.UTF8.GetBytes("""?", "answer": "#### 3"}""" + "\n")];
        File.WriteAllBytes(path, [.. good, .. bad, .. good]);
        var ds = JsonlDataset.Load(path, JsonlFormat.Auto with { SkipMalformed = true, MaxSkipped = 5 });
        Assert.Equal(2, ds.Problems.Length);
        Assert.Equal(3, ds.Problems[1].Line);
        Assert.StartsWith($"{path}:2: invalid UTF-8", Assert.Single(ds.Skipped), StringComparison.Ordinal);
        var strict = Assert.Throws<DatasetFormatException>(() => JsonlDataset.Load(path, JsonlFormat.Auto));
        Assert.Equal(2, strict.Line);
    }

    [Fact]
    public void One_malformed_row_more_than_the_skip_limit_fails_naming_file_and_line()
    {
        var path = Write("limit.jsonl",
            """{"question": "a", "answer": "#### 1"}""", "{bad", """{"question": "no answer"}""", """{"question": "b", "answer": "#### 2"}""", "{worse");
        var two = JsonlDataset.Load(path, JsonlFormat.Auto with { SkipMalformed = true, MaxSkipped = 3 });
        Assert.Equal(3, two.Skipped.Length);
        var e = Assert.Throws<DatasetFormatException>(() => JsonlDataset.Load(path, JsonlFormat.Auto with { SkipMalformed = true, MaxSkipped = 2 }));
        Assert.Equal(5, e.Line);
        Assert.StartsWith($"{path}:5: invalid JSON", e.Message, StringComparison.Ordinal);
        Assert.Contains("malformed row 3, more than the skip limit of 2", e.Message, StringComparison.Ordinal);
    }
}
