using System.Text.Json;
using RoRecomp.Core.IO;
using RoRecomp.Training.Steps;

namespace RoRecomp.Training.Runs;

/// <summary>What is wrong with a <c>metrics.jsonl</c> line that <see cref="RunFiles.ReadMetrics"/> skipped.</summary>
public enum MetricsLineFault
{
    /// <summary>Not JSON: a line cut short by a crash mid-write.</summary>
    NotJson,

    /// <summary>JSON, but no object with a <c>step</c>.</summary>
    NoStep,

    /// <summary>A step, but a value of the wrong type.</summary>
    BadValue,
}

/// <summary>
/// The files of a run directory, each with its record, its one reader and its one writer: <c>metrics.jsonl</c>
/// (<see cref="MetricsLine"/>, one per step), <c>eval-baseline.json</c> (<see cref="HeldOutEvaluation"/>),
/// <c>summary.json</c> (<see cref="RunSummaryFile"/>) and <c>sft-summary.json</c> (<see cref="SftSummary"/>). All are
/// snake_case JSON; every write is durable (<see cref="DurableFile"/>): whole files are replaced atomically, metrics lines
/// appended and flushed to disk.
/// </summary>
public static class RunFiles
{
    /// <summary>File names inside the run directory.</summary>
    public const string MetricsFile = "metrics.jsonl", BaselineFile = "eval-baseline.json", SummaryFile = "summary.json", SftSummaryFile = "sft-summary.json";

    /// <summary>The settings a run was started with (its layers over the defaults), which <c>train --resume</c> and <c>export</c> read.</summary>
    public const string RunConfigFile = "run.conf";

    /// <summary>The project's JSON convention for the files it writes: snake_case names.</summary>
    public static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private static readonly JsonSerializerOptions Indented = new(Json) { WriteIndented = true };

    /// <summary>eval-baseline.json as versions before snake_case wrote it (PascalCase names).</summary>
    private static readonly JsonSerializerOptions PascalCase = new();

    /// <summary>The path of <paramref name="file"/> (one of the names above) in <paramref name="runDir"/>.</summary>
    public static string PathOf(string runDir, string file) => Path.Combine(runDir, file);

    /// <summary>The text of a metrics line, as <c>metrics.jsonl</c> holds it (one line, no newline).</summary>
    public static string Format(MetricsLine line) => JsonSerializer.Serialize(line, Json);

    /// <summary>Appends <paramref name="line"/> to the run's <c>metrics.jsonl</c> and flushes it to disk.</summary>
    public static void AppendMetrics(string runDir, MetricsLine line) =>
        DurableFile.AppendText(PathOf(runDir, MetricsFile), Format(line) + "\n");

    /// <summary>
    /// The run's metrics lines in file order (none when there is no file); lines that are not metrics lines are skipped
    /// and reported to <paramref name="skipped"/> with their 1-based number (blank lines silently).
    /// </summary>
    public static List<MetricsLine> ReadMetrics(string runDir, Action<int, MetricsLineFault>? skipped = null) =>
        [.. ReadMetricsText(runDir, skipped).Select(l => l.Line)];

    /// <summary>
    /// Keeps the metrics lines up to <paramref name="lastStep"/> (their text as it was) and drops the rest, durably:
    /// the lines of steps that will run again on a resume. Returns the kept lines; skipped lines go to <paramref name="skipped"/>.
    /// </summary>
    public static List<MetricsLine> KeepMetricsThrough(string runDir, long lastStep, Action<int, MetricsLineFault>? skipped = null)
    {
        var kept = ReadMetricsText(runDir, skipped).Where(l => l.Line.Step <= lastStep).ToList();
        DurableFile.WriteAllText(PathOf(runDir, MetricsFile), string.Concat(kept.Select(l => l.Text + "\n")));
        return [.. kept.Select(l => l.Line)];
    }

    /// <summary>Writes the warm start's evaluation to <c>eval-baseline.json</c>.</summary>
    public static void WriteBaseline(string runDir, HeldOutEvaluation evaluation) => WriteJson(runDir, BaselineFile, evaluation);

    /// <summary>
    /// The run's <c>eval-baseline.json</c>, or null when there is none; the PascalCase form that earlier versions wrote
    /// is read too. Throws <see cref="JsonException"/> when the file is not such JSON.
    /// </summary>
    public static HeldOutEvaluation? ReadBaseline(string runDir)
    {
        var path = PathOf(runDir, BaselineFile);
        if (!File.Exists(path)) return null;
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var legacy = doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(nameof(HeldOutEvaluation.Accuracy), out _);
        return doc.Deserialize<HeldOutEvaluation>(legacy ? PascalCase : Json);
    }

    /// <summary>A held-out evaluation as the run files write it (<c>eval-baseline.json</c>'s form, indented).</summary>
    public static string FormatEvaluation(HeldOutEvaluation evaluation) => JsonSerializer.Serialize(evaluation, Indented);

    /// <summary>Writes <c>summary.json</c>.</summary>
    public static void WriteSummary(string runDir, RunSummaryFile summary) => WriteJson(runDir, SummaryFile, summary);

    /// <summary>The run's <c>summary.json</c>, or null when it has none (not finished); throws <see cref="JsonException"/> when it is not such JSON.</summary>
    public static RunSummaryFile? ReadSummary(string runDir) => ReadJson<RunSummaryFile>(runDir, SummaryFile);

    /// <summary>Whether the run wrote its <c>summary.json</c> (it finished).</summary>
    public static bool IsFinished(string runDir) => File.Exists(PathOf(runDir, SummaryFile));

    /// <summary>Writes <c>sft-summary.json</c>.</summary>
    public static void WriteSftSummary(string runDir, SftSummary summary) => WriteJson(runDir, SftSummaryFile, summary);

    /// <summary>The run's <c>sft-summary.json</c>, or null when it has none; throws <see cref="JsonException"/> when it is not such JSON.</summary>
    public static SftSummary? ReadSftSummary(string runDir) => ReadJson<SftSummary>(runDir, SftSummaryFile);

    private static void WriteJson<T>(string runDir, string file, T value) =>
        DurableFile.WriteAllText(PathOf(runDir, file), JsonSerializer.Serialize(value, Indented));

    private static T? ReadJson<T>(string runDir, string file)
        where T : class
    {
        var path = PathOf(runDir, file);
        return File.Exists(path) ? JsonSerializer.Deserialize<T>(File.ReadAllText(path), Json) : null;
    }

    /// <summary>Each metrics line with its text; see <see cref="ReadMetrics"/>.</summary>
    private static IEnumerable<(string Text, MetricsLine Line)> ReadMetricsText(string runDir, Action<int, MetricsLineFault>? skipped)
    {
        var path = PathOf(runDir, MetricsFile);
        if (!File.Exists(path)) yield break;
        var n = 0;
        foreach (var text in File.ReadLines(path))
        {
            n++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            var (line, fault) = Parse(text);
            if (line is not null) yield return (text, line);
            else skipped?.Invoke(n, fault);
        }
    }

    private static (MetricsLine? Line, MetricsLineFault Fault) Parse(string text)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text);
        }
        catch (JsonException)
        {
            return (null, MetricsLineFault.NotJson);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("step", out _)) return (null, MetricsLineFault.NoStep);
            try
            {
                return (doc.Deserialize<MetricsLine>(Json), default);
            }
            catch (JsonException)
            {
                return (null, MetricsLineFault.BadValue);
            }
        }
    }
}
