using System.Collections.Immutable;
using System.Text.Json;
using RoRecomp.Tasks.Answers;

namespace RoRecomp.Tasks.Datasets;

/// <summary>How the reference answer is read from the answer field.</summary>
public enum AnswerStyle
{
    /// <summary>The field is the answer itself.</summary>
    Raw,

    /// <summary>GSM8K: a worked solution ending with <c>#### 42</c>.</summary>
    Gsm8k,

    /// <summary>MATH: a solution whose last <c>\boxed{…}</c> is the answer.</summary>
    Boxed,
}

/// <summary>Field names and answer style of a JSONL math dataset.</summary>
/// <param name="QuestionField">Field holding the problem text.</param>
/// <param name="AnswerField">Field holding the answer or solution.</param>
/// <param name="Style">How the reference answer is read from <paramref name="AnswerField"/>.</param>
/// <param name="SkipMalformed">Skip (and count) malformed rows instead of failing on the first one.</param>
public sealed record JsonlFormat(string QuestionField, string AnswerField, AnswerStyle Style, bool SkipMalformed = false)
{
    /// <summary>GSM8K: <c>question</c> / <c>answer</c> with <c>#### 42</c>.</summary>
    public static JsonlFormat Gsm8k { get; } = new("question", "answer", AnswerStyle.Gsm8k);

    /// <summary>MATH: <c>problem</c> / <c>solution</c> with <c>\boxed{}</c>.</summary>
    public static JsonlFormat Math { get; } = new("problem", "solution", AnswerStyle.Boxed);
}

/// <summary>One problem of a dataset.</summary>
/// <param name="Line">1-based line in its file.</param>
/// <param name="Question">The problem text.</param>
/// <param name="Answer">The reference final answer.</param>
/// <param name="Solution">The answer field as written (a worked solution for GSM8K / MATH).</param>
public sealed record MathProblem(int Line, string Question, string Answer, string Solution);

/// <summary>A malformed row of a dataset file: thrown when malformed rows are not skipped.</summary>
public sealed class DatasetFormatException(string path, int line, string problem)
    : FormatException($"{path}:{line}: {problem}")
{
    /// <summary>The file.</summary>
    public string Path { get; } = path;

    /// <summary>1-based line number.</summary>
    public int Line { get; } = line;
}

/// <summary>A JSONL math dataset loaded in memory, with what was skipped.</summary>
/// <param name="Path">The file it was loaded from.</param>
/// <param name="Problems">The well-formed problems in file order.</param>
/// <param name="Skipped">Malformed rows skipped ("path:line: problem"), when skipping was configured.</param>
public sealed record JsonlDataset(string Path, ImmutableArray<MathProblem> Problems, ImmutableArray<string> Skipped)
{
    /// <summary>
    /// Loads <paramref name="path"/>: one JSON object per line, blank lines ignored. A malformed row (bad JSON, not an
    /// object, missing or non-string field, no extractable answer) throws <see cref="DatasetFormatException"/> naming
    /// file and line, or is skipped and listed in <see cref="Skipped"/> when <see cref="JsonlFormat.SkipMalformed"/>.
    /// </summary>
    public static JsonlDataset Load(string path, JsonlFormat format)
    {
        ArgumentNullException.ThrowIfNull(format);
        if (!File.Exists(path)) throw new FileNotFoundException($"Dataset file '{path}' does not exist: check the task's data path.", path);
        var problems = ImmutableArray.CreateBuilder<MathProblem>();
        var skipped = ImmutableArray.CreateBuilder<string>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var (problem, error) = Parse(line, lineNo, format);
            if (problem is not null) problems.Add(problem);
            else if (format.SkipMalformed) skipped.Add($"{path}:{lineNo}: {error}");
            else throw new DatasetFormatException(path, lineNo, error! + " (set skip-malformed to skip such rows)");
        }
        if (problems.Count == 0)
            throw new DatasetFormatException(path, lineNo, $"no usable rows (fields '{format.QuestionField}' / '{format.AnswerField}', {skipped.Count} skipped)");
        return new JsonlDataset(path, problems.ToImmutable(), skipped.ToImmutable());
    }

    private static (MathProblem? Problem, string? Error) Parse(string line, int lineNo, JsonlFormat format)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            return (null, $"invalid JSON: {e.Message}");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return (null, "row is not a JSON object");
            var q = Field(doc.RootElement, format.QuestionField, out var qErr);
            if (q is null) return (null, qErr);
            var a = Field(doc.RootElement, format.AnswerField, out var aErr);
            if (a is null) return (null, aErr);
            var answer = format.Style switch
            {
                AnswerStyle.Gsm8k => a.Contains("####", StringComparison.Ordinal) ? MathAnswerVerifier.ExtractAnswer(a[a.LastIndexOf("####", StringComparison.Ordinal)..]) : null,
                AnswerStyle.Boxed => MathAnswerVerifier.ExtractAnswer(a) is { } x && a.Contains("\\boxed", StringComparison.Ordinal) ? x : null,
                _ => a.Trim(),
            };
            if (string.IsNullOrEmpty(answer))
                return (null, $"field '{format.AnswerField}' has no answer in {format.Style} style ({(format.Style == AnswerStyle.Gsm8k ? "'#### N'" : format.Style == AnswerStyle.Boxed ? "\\boxed{...}" : "non-empty")})");
            return (new MathProblem(lineNo, q, answer, a), null);
        }
    }

    private static string? Field(JsonElement row, string name, out string? error)
    {
        error = null;
        if (!row.TryGetProperty(name, out var v)) { error = $"missing field '{name}'"; return null; }
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        if (v.ValueKind == JsonValueKind.Number) return v.GetRawText();
        error = $"field '{name}' is {v.ValueKind}, not a string";
        return null;
    }
}
