using System.Security.Cryptography;
using System.Text.Json.Nodes;
using RoRecomp.Training;
using RoRecomp.Training.Runs;

namespace RoRecomp.Cli.Chaos;

/// <summary>What the oracle found in a disturbed run (and, with a reference, how it compares).</summary>
/// <param name="StepsDone">Distinct steps in the disturbed run's <c>metrics.jsonl</c>.</param>
/// <param name="ResponsesLost">Responses a step should have had but did not, plus prompts the data cursor skipped (times samples per prompt).</param>
/// <param name="Duplicates">Steps written twice, prompts the cursor counted twice (times samples), responses above a step's count, and ids the buffer holds twice.</param>
/// <param name="MaxPolicyLag">The largest <c>policy_lag</c> of any step.</param>
/// <param name="Equal">Equal to the reference on every compared item (null when there was no reference: <c>max-policy-lag</c> &gt; 0).</param>
/// <param name="Differences">Each difference found, one line each (ignored keys' differences are listed too, marked).</param>
/// <param name="FinalSha256">SHA-256 of the disturbed run's final <c>model.safetensors</c> (empty when missing).</param>
public sealed record OracleVerdict(int StepsDone, long ResponsesLost, long Duplicates, long MaxPolicyLag, bool? Equal, IReadOnlyList<string> Differences, string FinalSha256);

/// <summary>
/// The chaos harness's oracle. Always: every step 1..T once, each with the step's responses, the data cursor moving by
/// one step's prompts (nothing lost or counted twice), <c>policy_lag</c> within the bound, and no id twice in the replay
/// buffer. With a reference (the undisturbed run, <c>max-policy-lag = 0</c>): every <c>metrics.jsonl</c> key but the
/// wall-time ones (<see cref="WallKeys"/>) equal step by step, the buffer's final ids equal in order, and the final
/// checkpoint's model and optimizer files bitwise equal (SHA-256).
/// </summary>
public static class ChaosOracle
{
    /// <summary>The <c>metrics.jsonl</c> keys that measure wall time and so differ between any two runs.</summary>
    public static readonly IReadOnlySet<string> WallKeys = new HashSet<string>(StringComparer.Ordinal) { "wall_s", "step_s", "train_s" };

    /// <summary>Files of the final checkpoint compared bitwise.</summary>
    public static readonly IReadOnlyList<string> CheckpointFiles = ["model.safetensors", "optimizer.safetensors"];

    /// <summary>Judges <paramref name="disturbed"/> (and compares it with <paramref name="reference"/> when given).</summary>
    /// <param name="disturbed">The chaos run's directory.</param>
    /// <param name="disturbedIds">Its replay buffer's final ids, oldest first.</param>
    /// <param name="reference">The undisturbed run's directory, or null.</param>
    /// <param name="referenceIds">Its buffer's ids (with <paramref name="reference"/>).</param>
    /// <param name="steps">The run's steps.</param>
    /// <param name="promptsPerStep">Prompts a step takes.</param>
    /// <param name="samplesPerPrompt">Responses a prompt gets.</param>
    /// <param name="maxPolicyLag">The bound on <c>policy_lag</c>.</param>
    /// <param name="ignoreKeys">Keys whose differences are listed but do not make the runs unequal.</param>
    public static OracleVerdict Judge(string disturbed, IReadOnlyList<string> disturbedIds, string? reference, IReadOnlyList<string>? referenceIds,
        int steps, int promptsPerStep, int samplesPerPrompt, int maxPolicyLag, IReadOnlySet<string> ignoreKeys)
    {
        var diffs = new List<string>();
        var failing = 0;
        void Diff(string what, bool counts = true)
        {
            diffs.Add(counts ? what : what + " (ignored: --ignore-key)");
            if (counts) failing++;
        }

        var lines = ReadLines(disturbed, Diff);
        long lost = 0, dups = 0, maxLag = 0;
        var seen = new HashSet<long>();
        long cursor = 0;
        foreach (var l in lines)
        {
            var step = l["step"]!.GetValue<long>();
            if (!seen.Add(step))
            {
                dups += promptsPerStep * samplesPerPrompt;
                Diff($"step {step} is written twice in {RunFiles.MetricsFile}");
                continue;
            }
            var responses = Long(l, "responses");
            var expected = (long)promptsPerStep * samplesPerPrompt;
            if (responses < expected) lost += expected - responses;
            if (responses > expected) dups += responses - expected;
            var c = Long(l, "cursor");
            var moved = c - cursor;
            if (moved < promptsPerStep) dups += (promptsPerStep - moved) * samplesPerPrompt;
            if (moved > promptsPerStep) lost += (moved - promptsPerStep) * samplesPerPrompt;
            if (moved != promptsPerStep) Diff($"step {step}: the data cursor moved by {moved} prompts, not {promptsPerStep}");
            if (responses != expected) Diff($"step {step}: {responses} responses, not {expected}");
            cursor = c;
            var lag = Long(l, "policy_lag");
            maxLag = Math.Max(maxLag, lag);
            if (lag > maxPolicyLag) Diff($"step {step}: policy_lag {lag} exceeds async.max-policy-lag {maxPolicyLag}");
        }
        var missing = Enumerable.Range(1, steps).Count(s => !seen.Contains(s));
        if (missing > 0)
        {
            lost += (long)missing * promptsPerStep * samplesPerPrompt;
            Diff($"{missing} of {steps} steps missing from {RunFiles.MetricsFile}");
        }
        var idDups = disturbedIds.Count - disturbedIds.Distinct(StringComparer.Ordinal).Count();
        if (idDups > 0)
        {
            dups += idDups;
            Diff($"the replay buffer holds {idDups} ids twice");
        }
        var sha = Sha256(FinalCheckpointFile(disturbed, steps, CheckpointFiles[0]));

        bool? equal = null;
        if (reference is not null)
        {
            var before = failing;
            CompareMetrics(ReadLines(reference, (d, c) => Diff("reference: " + d, c)), lines, ignoreKeys, Diff);
            var refIds = referenceIds ?? [];
            if (!refIds.SequenceEqual(disturbedIds, StringComparer.Ordinal))
            {
                var at = Enumerable.Range(0, Math.Min(refIds.Count, disturbedIds.Count)).FirstOrDefault(i => refIds[i] != disturbedIds[i], Math.Min(refIds.Count, disturbedIds.Count));
                Diff($"replay buffer ids differ: {disturbedIds.Count} ids vs the reference's {refIds.Count}, first difference at position {at}");
            }
            foreach (var file in CheckpointFiles)
            {
                var a = Sha256(FinalCheckpointFile(reference, steps, file));
                var b = Sha256(FinalCheckpointFile(disturbed, steps, file));
                if (a.Length == 0 || b.Length == 0 || a != b)
                    Diff($"final checkpoint {file}: SHA-256 {Short(b)} vs the reference's {Short(a)}");
            }
            equal = failing == before;
        }
        return new OracleVerdict(seen.Count, lost, dups, maxLag, equal, diffs, sha);
    }

    /// <summary>The final checkpoint's <paramref name="file"/> in a run directory (the learner checkpoints the last step always).</summary>
    public static string FinalCheckpointFile(string runDir, int steps, string file) =>
        Path.Combine(RunContext.CheckpointDirectoryOf(runDir), $"step-{steps:D6}", file);

    /// <summary>The file's SHA-256 (lowercase hex), or "" when it does not exist.</summary>
    public static string Sha256(string path)
    {
        if (!File.Exists(path)) return "";
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
    }

    private static string Short(string sha) => sha.Length == 0 ? "(missing)" : sha[..16];

    private static void CompareMetrics(List<JsonObject> reference, List<JsonObject> disturbed, IReadOnlySet<string> ignoreKeys, Action<string, bool> diff)
    {
        var byStep = disturbed.GroupBy(l => l["step"]!.GetValue<long>()).ToDictionary(g => g.Key, g => g.Last());
        foreach (var r in reference)
        {
            var step = r["step"]!.GetValue<long>();
            if (!byStep.TryGetValue(step, out var d)) continue;   // counted as missing already
            foreach (var key in r.Select(p => p.Key).Union(d.Select(p => p.Key)).Where(k => !WallKeys.Contains(k)))
            {
                var a = r[key]?.ToJsonString() ?? "(absent)";
                var b = d[key]?.ToJsonString() ?? "(absent)";
                if (a != b) diff($"step {step}: {key} = {b}, the reference's {a}", !ignoreKeys.Contains(key));
            }
        }
    }

    private static List<JsonObject> ReadLines(string runDir, Action<string, bool> diff)
    {
        var path = RunFiles.PathOf(runDir, RunFiles.MetricsFile);
        var result = new List<JsonObject>();
        if (!File.Exists(path))
        {
            diff($"{path} is missing", true);
            return result;
        }
        var n = 0;
        foreach (var text in File.ReadLines(path))
        {
            n++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            JsonNode? node = null;
            try
            {
                node = JsonNode.Parse(text);
            }
            catch (System.Text.Json.JsonException)
            {
            }
            if (node is JsonObject o && o["step"] is not null) result.Add(o);
            else diff($"{RunFiles.MetricsFile}:{n} is not a metrics line: {(text.Length > 80 ? text[..80] + "..." : text)}", true);
        }
        return result;
    }

    private static long Long(JsonObject l, string key) => l[key]?.GetValue<long>() ?? 0;
}
