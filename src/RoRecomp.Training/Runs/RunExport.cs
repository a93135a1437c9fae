using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using RoRecomp.Core.IO;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.HuggingFace;
using RoRecomp.Model.Runtime;
using RoRecomp.Settings;
using RoRecomp.Tasks;
using static TorchSharp.torch;

namespace RoRecomp.Training.Runs;

/// <summary>What <c>rorecomp export</c> was asked for.</summary>
/// <param name="OutDir">The directory to write (must not exist, or be empty).</param>
/// <param name="RunDir">The run whose latest good checkpoint is exported (default <c>rorecomp.run.run-dir</c>); with
/// <paramref name="Checkpoint"/>, only where the run's settings (<c>run.conf</c>) are read from.</param>
/// <param name="Checkpoint">A checkpoint directory (<c>.../checkpoints/step-000120</c>) to export instead of the run's latest.</param>
/// <param name="Format">Export format; <c>hf</c> (Hugging Face) is the one there is.</param>
/// <param name="DType"><c>fp32</c> (logits identical to the trained policy) or <c>bf16</c> (half the size).</param>
/// <param name="MaxShardGb">Above this many GB (10^9 bytes) of weights, the safetensors are sharded with an index.</param>
public sealed record ExportOptions(
    string OutDir,
    string? RunDir = null,
    string? Checkpoint = null,
    string Format = "hf",
    string DType = "fp32",
    double MaxShardGb = 5);

/// <summary>What an export wrote.</summary>
/// <param name="OutDir">The directory written.</param>
/// <param name="Checkpoint">The checkpoint exported.</param>
/// <param name="Step">Its RL step.</param>
/// <param name="Files">Every file in <paramref name="OutDir"/>.</param>
/// <param name="WeightBytes">Bytes of weights.</param>
/// <param name="Shards">Safetensors files.</param>
/// <param name="Tokenizer">What the directory holds as the tokenizer (copied files, or why there are none).</param>
public sealed record ExportResult(string OutDir, string Checkpoint, long Step, IReadOnlyList<string> Files, long WeightBytes, int Shards, string Tokenizer);

/// <summary>
/// <c>rorecomp export --format hf</c>: writes a run's trained policy (its latest good checkpoint, or a given one) as a
/// Hugging Face model directory (<see cref="HfExport"/>), with the tokenizer files of the model the run started from
/// when <c>rorecomp.model.source = hf</c>. The directory is built beside <see cref="ExportOptions.OutDir"/> and renamed
/// into place, so an interrupted export leaves no half-written model behind.
/// </summary>
public static class RunExport
{
    /// <summary>The formats <see cref="Run"/> writes.</summary>
    public static readonly IReadOnlyList<string> Formats = ["hf"];

    /// <summary>The dtypes <see cref="Run"/> stores.</summary>
    public static readonly IReadOnlyList<string> DTypes = ["fp32", "bf16"];

    /// <summary>Tokenizer and vocabulary files copied from a Hugging Face source directory when present.</summary>
    public static readonly IReadOnlyList<string> TokenizerFiles =
    [
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt",
        "tokenizer.model", "chat_template.jinja", "chat_template.json",
    ];

    /// <summary>Keys of the source model's <c>config.json</c> carried into the exported one (token ids).</summary>
    private static readonly string[] TokenIdKeys = ["bos_token_id", "eos_token_id", "pad_token_id"];

    /// <summary>
    /// Exports; throws <see cref="SettingsException"/> for a bad option or output directory and
    /// <see cref="CheckpointException"/> when there is no good checkpoint. Progress goes to <paramref name="output"/>.
    /// </summary>
    public static ExportResult Run(ExportOptions o, TextWriter output, bool interactive)
    {
        if (!Formats.Contains(o.Format)) throw new SettingsException($"--format {o.Format}: unknown export format (known: {string.Join(", ", Formats)})");
        if (!DTypes.Contains(o.DType)) throw new SettingsException($"--dtype {o.DType}: expected one of {string.Join(", ", DTypes)}");
        if (!(o.MaxShardGb > 0) || !double.IsFinite(o.MaxShardGb)) throw new SettingsException($"--max-shard-gb {o.MaxShardGb}: expected a positive number");
        var outDir = Path.GetFullPath(o.OutDir);
        if (File.Exists(outDir)) throw new SettingsException($"--out {outDir}: is a file; give a new directory");
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new SettingsException($"--out {outDir}: exists and is not empty; give a new directory (export never overwrites)");

        var (runDir, checkpointDir) = RunCheckpointSource.Locate(o.RunDir, o.Checkpoint);
        var settings = RunCheckpointSource.Settings(runDir);
        TorchRuntime.EnsureLoaded();
        using var checkpoint = RunCheckpointSource.Load(runDir, checkpointDir, "export", output);
        var config = RunContext.ModelConfigOf(checkpoint);
        output.WriteLine($"export: {checkpoint.Path} (step {checkpoint.Manifest.Step}, {config.ParameterCount():N0} parameters) -> {outDir} ({o.Format}, {o.DType})");

        var (extraConfig, generationConfig, tokenizerFiles, tokenizerNote) = TokenizerSide(settings, runDir);
        var parent = Path.GetDirectoryName(outDir)!;
        Directory.CreateDirectory(parent);
        var temp = Path.Combine(parent, $"{DurableFile.TempPrefix}export-{Path.GetFileName(outDir)}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(temp);
        try
        {
            var progress = new ProgressLine(output, interactive, 100);
            var sw = Stopwatch.StartNew();
            var lastShown = TimeSpan.Zero;
            var written = HfExport.Write(temp, config, checkpoint.Model,
                new HfExportOptions(o.DType == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32, (long)(o.MaxShardGb * 1e9), extraConfig, generationConfig),
                (done, total) =>
                {
                    if (done < total && sw.Elapsed - lastShown < TimeSpan.FromSeconds(interactive ? 0.5 : 10)) return;
                    lastShown = sw.Elapsed;
                    progress.Show(string.Create(CultureInfo.InvariantCulture,
                        $"export: weights {done / 1e9:F2}/{total / 1e9:F2} GB ({(total == 0 ? 1 : (double)done / total):P0}), {sw.Elapsed.TotalSeconds:F0} s"));
                });
            progress.End();
            foreach (var name in tokenizerFiles)
            {
                using var source = File.OpenRead(Path.Combine(settings!.Model.Path, name));
                DurableFile.WriteNew(Path.Combine(temp, name), s => source.CopyTo(s));
            }
            DurableFile.SyncDirectory(temp);
            if (Directory.Exists(outDir)) Directory.Delete(outDir);   // empty (checked above)
            Directory.Move(temp, outDir);
            DurableFile.SyncDirectory(parent);
            var files = written.Files.Concat(tokenizerFiles).ToList();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"export done: {outDir}: {written.WeightBytes / 1e9:F2} GB of {o.DType} weights in {written.Shards} file(s), config.json, generation_config.json; {tokenizerNote}"));
            return new ExportResult(outDir, checkpoint.Path, checkpoint.Manifest.Step, files, written.WeightBytes, written.Shards, tokenizerNote);
        }
        catch
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            throw;
        }
    }

    /// <summary>
    /// For a Hugging Face source: its token ids for config.json, its generation_config.json, and the tokenizer files it
    /// has. For the tiny source: the character vocabulary's ids, and a note that it is the task's vocabulary.
    /// </summary>
    private static (Dictionary<string, JsonNode?> Extra, string? Generation, List<string> Files, string Note) TokenizerSide(RoRecompSettings? settings, string? runDir)
    {
        var extra = new Dictionary<string, JsonNode?>();
        if (settings is null)
        {
            return (extra, null, [], $"no tokenizer: no {RunFiles.RunConfigFile} beside the checkpoint says which model the run started from " +
                "(give --run-dir, or copy the tokenizer files yourself)");
        }
        if (!settings.Model.IsHuggingFace)
        {
            var tokenizer = RunContext.CreateTokenizer(settings, RunContext.CreateTask(settings));
            extra["eos_token_id"] = tokenizer.EosId;
            extra["pad_token_id"] = tokenizer.PadId;
            return (extra, null, [], $"no Hugging Face tokenizer: this tiny-source policy's tokenizer is the '{settings.Run.Task}' task's character " +
                $"vocabulary ({tokenizer.VocabSize} ids, eos {tokenizer.EosId}, pad {tokenizer.PadId}; RoRecomp.Model.Tokenizers.CharTokenizer)");
        }
        var source = Path.GetFullPath(settings.Model.Path);
        var configPath = Path.Combine(source, "config.json");
        if (File.Exists(configPath) && JsonNode.Parse(File.ReadAllText(configPath)) is JsonObject sourceConfig)
        {
            foreach (var key in TokenIdKeys)
            {
                if (sourceConfig.TryGetPropertyValue(key, out var v) && v is not null) extra[key] = v.DeepClone();
            }
        }
        var generationPath = Path.Combine(source, "generation_config.json");
        var generation = File.Exists(generationPath) ? File.ReadAllText(generationPath) : null;
        var files = TokenizerFiles.Where(f => File.Exists(Path.Combine(source, f))).ToList();
        var note = files.Contains("tokenizer.json")
            ? $"tokenizer files copied from {source}: {string.Join(", ", files)}"
            : $"WARNING: {source} (rorecomp.model.path) has no tokenizer.json any more{(files.Count > 0 ? $"; copied {string.Join(", ", files)}" : "")}";
        return (extra, generation, files, note);
    }
}
