using System.Collections;
using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace RoRecomp.Settings;

/// <summary>
/// The settings that make a run what it is, as canonical <c>key = value</c> lines, and a short hash of them. Every node
/// of a cluster must hold the same ones: a sampler with another run's sampling, model, task or reward settings would feed
/// the learner responses of another experiment. Left out are the keys that say where this process runs or keeps its files
/// (<c>cluster.*</c>, <c>persistence.*</c>, <c>checkpoint.*</c>, <c>run.run-dir</c>, <c>run.steps</c> (a learner flag),
/// <c>run.tensorboard</c>, <c>sampling.samplers</c>, <c>model.device</c>, <c>buffer.response-bodies</c> (storage only), and the machine paths <c>model.path</c>,
/// <c>model.checkpoint</c>, <c>task.train-path</c>, <c>task.test-path</c>).
/// </summary>
/// <param name="Text">One <c>key = value</c> line per setting, sorted by key.</param>
public sealed record RunFingerprint(string Text)
{
    private static readonly ImmutableHashSet<string> Excluded = [
        "cluster", "persistence", "checkpoint", "run.run-dir", "run.steps", "run.tensorboard", "sampling.samplers", "model.device",
        "buffer.response-bodies", "model.path", "model.checkpoint", "task.train-path", "task.test-path"];

    /// <summary>The first 16 hex digits of the SHA-256 of <see cref="Text"/>: what logs name.</summary>
    public string Hash { get; } = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Text)))[..16];

    /// <summary>The fingerprint of <paramref name="settings"/>.</summary>
    public static RunFingerprint Of(RoRecompSettings settings)
    {
        var lines = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var section in typeof(RoRecompSettings).GetProperties())
        {
            if (section.Name == nameof(RoRecompSettings.Fingerprint)) continue;
            var prefix = section.Name == nameof(RoRecompSettings.TaskData) ? "task" : Kebab(section.Name);
            if (Excluded.Contains(prefix) || section.GetValue(settings) is not { } value) continue;
            foreach (var p in value.GetType().GetProperties())
            {
                if (p.GetIndexParameters().Length > 0 || p.GetMethod is not { IsStatic: false } || p.Name == "EqualityContract") continue;
                if (p.PropertyType == typeof(bool) && p.Name.StartsWith("Is", StringComparison.Ordinal)) continue; // derived
                var key = $"{prefix}.{Kebab(p.Name)}";
                if (!Excluded.Contains(key)) lines[key] = Format(p.GetValue(value));
            }
        }
        return new RunFingerprint(string.Concat(lines.Select(kv => $"{kv.Key} = {kv.Value}\n")));
    }

    /// <summary>
    /// The keys whose values differ between this fingerprint and <paramref name="other"/>, as
    /// <c>key: here A, there B</c>; empty when the two are equal.
    /// </summary>
    public IReadOnlyList<string> Differences(RunFingerprint other, string here = "here", string there = "there")
    {
        var mine = Parse(Text);
        var theirs = Parse(other.Text);
        return [.. mine.Keys.Union(theirs.Keys).Order(StringComparer.Ordinal)
            .Where(k => !mine.TryGetValue(k, out var a) || !theirs.TryGetValue(k, out var b) || a != b)
            .Select(k => $"{k}: {here} {(mine.TryGetValue(k, out var a) ? a : "(absent)")}, {there} {(theirs.TryGetValue(k, out var b) ? b : "(absent)")}")];
    }

    private static Dictionary<string, string> Parse(string text)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = line.IndexOf(" = ", StringComparison.Ordinal);
            if (eq > 0) d[line[..eq]] = line[(eq + 3)..];
        }
        return d;
    }

    private static string Format(object? v) => v switch
    {
        null => "null",
        string s => '"' + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)
            .Replace("\n", "\\n", StringComparison.Ordinal) + '"',
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        IEnumerable e => "[" + string.Join(", ", e.Cast<object?>().Select(Format)) + "]",
        _ => v.ToString() ?? "",
    };

    private static string Kebab(string name)
    {
        var sb = new StringBuilder();
        foreach (var c in name)
        {
            if (char.IsUpper(c) && sb.Length > 0) sb.Append('-');
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }
}
