using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using RoRecomp.Tasks.Answers;

namespace RoRecomp.Tasks.Datasets;

/// <summary>How the reference answer is read from the answer field.</summary>
public enum AnswerStyle
{
    /// <summary>Per row: <see cref="Gsm8k"/> when the field has a <c>####</c> line, else <see cref="Boxed"/> when it has a <c>\boxed{}</c>, else <see cref="Raw"/>.</summary>
    Auto,

    /// <summary>The field is the answer itself.</summary>
    Raw,

    /// <summary>GSM8K: a worked solution ending with <c>#### 42</c>.</summary>
    Gsm8k,

    /// <summary>MATH: a solution whose last <c>\boxed{…}</c> is the answer.</summary>
    Boxed,
}

/// <summary>Field names and answer style of a JSONL math dataset.</summary>
/// <param name="QuestionField">Field holding the problem text ("" = <c>question</c>, else <c>problem</c>, whichever the row has).</param>
/// <param name="AnswerField">Field holding the answer or solution ("" = <c>answer</c>, else <c>solution</c>).</param>
/// <param name="Style">How the reference answer is read from <paramref name="AnswerField"/>.</param>
/// <param name="SkipMalformed">Skip (and count) malformed rows instead of failing on the first one.</param>
/// <param name="MaxSkipped">With <paramref name="SkipMalformed"/>: how many malformed rows a file may have; one more fails the load.</param>
public sealed record JsonlFormat(string QuestionField, string AnswerField, AnswerStyle Style, bool SkipMalformed = false, int MaxSkipped = int.MaxValue)
{
    /// <summary>Any of GSM8K's and MATH's layouts, row by row: the fields and the style found (see <see cref="AnswerStyle.Auto"/>).</summary>
    public static JsonlFormat Auto { get; } = new("", "", AnswerStyle.Auto);

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
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Loads <paramref name="path"/>: one JSON object per line (UTF-8), blank lines ignored. A malformed row (invalid
    /// UTF-8, bad JSON, not an object, missing or non-string field, no extractable answer) throws
    /// <see cref="DatasetFormatException"/> naming file and line, or is skipped and listed in <see cref="Skipped"/> when
    /// <see cref="JsonlFormat.SkipMalformed"/>, up to <see cref="JsonlFormat.MaxSkipped"/> rows.
    /// </summary>
    public static JsonlDataset Load(string path, JsonlFormat format)
    {
        ArgumentNullException.ThrowIfNull(format);
        if (!File.Exists(path)) throw new FileNotFoundException($"Dataset file '{path}' does not exist: check the task's data path.", path);
        var problems = ImmutableArray.CreateBuilder<MathProblem>();
        var skipped = ImmutableArray.CreateBuilder<string>();
        int lineNo = 0;
        foreach (var bytes in Lines(path))
        {
            lineNo++;
            string? line = null;
            string? error = null;
            try
            {
                line = StrictUtf8.GetString(bytes.Span);
            }
            catch (DecoderFallbackException e)
            {
                error = $"invalid UTF-8 ({e.Message})";
            }
            if (line is not null && string.IsNullOrWhiteSpace(line)) continue;
            MathProblem? problem = null;
            if (line is not null) (problem, error) = Parse(line, lineNo, format);
            if (problem is not null)
            {
                problems.Add(problem);
                continue;
            }
            if (!format.SkipMalformed) throw new DatasetFormatException(path, lineNo, error! + " (rorecomp.task.max-skipped > 0 skips such rows)");
            if (skipped.Count >= format.MaxSkipped)
                throw new DatasetFormatException(path, lineNo, $"{error}: malformed row {skipped.Count + 1}, more than the skip limit of {format.MaxSkipped}");
            skipped.Add($"{path}:{lineNo}: {error}");
        }
        if (problems.Count == 0)
            throw new DatasetFormatException(path, lineNo, $"no usable rows (fields '{Names(format.QuestionField, QuestionFields)}' / '{Names(format.AnswerField, AnswerFields)}', {skipped.Count} skipped)");
        return new JsonlDataset(path, problems.ToImmutable(), skipped.ToImmutable());
    }

    /// <summary>The question fields tried when none is named: GSM8K's, then MATH's.</summary>
    private static readonly string[] QuestionFields = ["question", "problem"];

    /// <summary>The answer fields tried when none is named: GSM8K's, then MATH's.</summary>
    private static readonly string[] AnswerFields = ["answer", "solution"];

    private static string Names(string field, string[] auto) => field.Length > 0 ? field : string.Join("' or '", auto);

    /// <summary>The file's lines as raw bytes (a UTF-8 byte order mark and a CR before the LF dropped), decoded by the caller.</summary>
    private static IEnumerable<ReadOnlyMemory<byte>> Lines(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var start = bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        while (start < bytes.Length)
        {
            var nl = Array.IndexOf(bytes, (byte)'\n', start);
            var end = nl < 0 ? bytes.Length : nl;
            var len = end - start;
            if (len > 0 && bytes[end - 1] == (byte)'\r') len--;
            yield return bytes.AsMemory(start, len);
            if (nl < 0) break;
            start = nl + 1;
        }
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
            var q = Field(doc.RootElement, format.QuestionField, QuestionFields, out var qErr);
            if (q is null) return (null, qErr);
            var a = Field(doc.RootElement, format.AnswerField, AnswerFields, out var aErr);
            if (a is null) return (null, aErr);
            var style = format.Style != AnswerStyle.Auto ? format.Style
                : a.Contains("####", StringComparison.Ordinal) ? AnswerStyle.Gsm8k
                : a.Contains("\\boxed", StringComparison.Ordinal) ? AnswerStyle.Boxed
                : AnswerStyle.Raw;
            var answer = style switch
            {
                AnswerStyle.Gsm8k => a.Contains("####", StringComparison.Ordinal) ? MathAnswerVerifier.ExtractAnswer(a[a.LastIndexOf("####", StringComparison.Ordinal)..]) : null,
                AnswerStyle.Boxed => MathAnswerVerifier.ExtractAnswer(a) is { } x && a.Contains("\\boxed", StringComparison.Ordinal) ? x : null,
                _ => a.Trim(),
            };
            if (string.IsNullOrEmpty(answer))
                return (null, $"field '{Names(format.AnswerField, AnswerFields)}' has no answer in {style} style ({(style == AnswerStyle.Gsm8k ? "'#### N'" : style == AnswerStyle.Boxed ? "\\boxed{...}" : "non-empty")})");
            return (new MathProblem(lineNo, q, answer, a), null);
        }
    }

    private static string? Field(JsonElement row, string field, string[] auto, out string? error)
    {
        error = null;
        var name = field.Length > 0 ? field : auto.FirstOrDefault(n => row.TryGetProperty(n, out _)) ?? auto[0];
        if (!row.TryGetProperty(name, out var v)) { error = $"missing field '{Names(field, auto)}'"; return null; }
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        if (v.ValueKind == JsonValueKind.Number) return v.GetRawText();
        error = $"field '{name}' is {v.ValueKind}, not a string";
        return null;
    }
}
