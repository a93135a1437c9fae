using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using RoRecomp.Core.IO;
using static TorchSharp.torch;

namespace RoRecomp.Model.Checkpoints;

/// <summary>A file of a checkpoint with its SHA-256 (hex) and size.</summary>
public sealed record CheckpointFile(string Sha256, long Bytes);

/// <summary>
/// <c>manifest.json</c> of a checkpoint: what it is and the digest of every other file. The manifest's own digest is in
/// <c>manifest.sha256</c> beside it.
/// </summary>
public sealed record CheckpointManifest(
    int FormatVersion,
    long Step,
    long PolicyVersion,
    DateTimeOffset CreatedUtc,
    string? ModelConfigJson,
    string? RngState,
    IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyDictionary<string, CheckpointFile> Files)
{
    /// <summary>The format this code writes.</summary>
    public const int CurrentFormat = 1;
}

/// <summary>A verified checkpoint in memory. Disposing it disposes its tensors.</summary>
public sealed class Checkpoint(string path, CheckpointManifest manifest, Dictionary<string, Tensor> model, Dictionary<string, Tensor> optimizer) : IDisposable
{
    /// <summary>Its directory.</summary>
    public string Path { get; } = path;

    /// <summary>Its manifest.</summary>
    public CheckpointManifest Manifest { get; } = manifest;

    /// <summary>Model state dict (stored dtypes).</summary>
    public Dictionary<string, Tensor> Model { get; } = model;

    /// <summary>Optimizer state tensors by name.</summary>
    public Dictionary<string, Tensor> Optimizer { get; } = optimizer;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in Model.Values.Concat(Optimizer.Values)) t.Dispose();
    }
}

/// <summary>
/// Checkpoints of a run, as directories <c>step-000120/</c> (<c>model.safetensors</c>, <c>optimizer.safetensors</c>,
/// <c>manifest.json</c>, <c>manifest.sha256</c>) under one folder, and a <c>latest</c> file naming the newest.
/// <para>
/// Writing is atomic: everything goes into a hidden temp directory, is flushed to disk, and the directory is renamed
/// into place; <c>latest</c> is replaced (temp + rename) last. A crash leaves at most a temp directory, which is
/// ignored and cleaned, never a checkpoint that looks good and is not. Loading verifies every SHA-256 and size, and
/// <see cref="LoadLatestGood"/> falls back to the previous good checkpoint when the newest is damaged.
/// </para>
/// </summary>
public sealed partial class CheckpointStore
{
    private const string ModelFile = "model.safetensors";
    private const string OptimizerFile = "optimizer.safetensors";
    private const string ManifestFile = "manifest.json";
    private const string ManifestDigestFile = "manifest.sha256";
    private const string LatestFile = "latest";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>A store in <paramref name="directory"/> (created) keeping the newest <paramref name="keepLast"/> checkpoints.</summary>
    public CheckpointStore(string directory, int keepLast = 3)
    {
        if (keepLast < 1) throw new ArgumentOutOfRangeException(nameof(keepLast), keepLast, "checkpoint keep-last must be >= 1");
        Directory = System.IO.Path.GetFullPath(directory);
        KeepLast = keepLast;
        System.IO.Directory.CreateDirectory(Directory);
    }

    /// <summary>The folder holding the checkpoints.</summary>
    public string Directory { get; }

    /// <summary>How many checkpoints are kept.</summary>
    public int KeepLast { get; }

    /// <summary>Writes a checkpoint atomically and returns its directory.</summary>
    public string Save(
        long step,
        long policyVersion,
        IEnumerable<KeyValuePair<string, Tensor>> model,
        IEnumerable<KeyValuePair<string, Tensor>> optimizer,
        string? modelConfigJson = null,
        string? rngState = null,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        CleanTemp();
        var name = $"step-{step:D6}";
        var temp = System.IO.Path.Combine(Directory, $".tmp-{name}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(temp);
        var files = new Dictionary<string, CheckpointFile>(StringComparer.Ordinal)
        {
            [ModelFile] = WriteTensors(System.IO.Path.Combine(temp, ModelFile), model),
            [OptimizerFile] = WriteTensors(System.IO.Path.Combine(temp, OptimizerFile), optimizer),
        };
        var manifest = new CheckpointManifest(
            CheckpointManifest.CurrentFormat, step, policyVersion, DateTimeOffset.UtcNow, modelConfigJson, rngState,
            metadata ?? new Dictionary<string, string>(), files);
        var manifestBytes = JsonSerializer.SerializeToUtf8Bytes(manifest, Json);
        WriteDurably(System.IO.Path.Combine(temp, ManifestFile), manifestBytes);
        WriteDurably(System.IO.Path.Combine(temp, ManifestDigestFile), System.Text.Encoding.ASCII.GetBytes(Sha256(manifestBytes)));
        DurableFile.SyncDirectory(temp);   // the four files' entries, before the directory is renamed into place

        var final = System.IO.Path.Combine(Directory, name);
        if (System.IO.Directory.Exists(final))
        {
            // Same step saved again (e.g. after a resume): move the old one aside first, so `final` is never half-written.
            var aside = System.IO.Path.Combine(Directory, $".tmp-old-{name}-{Guid.NewGuid():N}");
            System.IO.Directory.Move(final, aside);
            System.IO.Directory.Move(temp, final);
            System.IO.Directory.Delete(aside, recursive: true);
        }
        else
        {
            System.IO.Directory.Move(temp, final);
        }
        // Temp file, fsync, rename, fsync of the directory: the directory's flush also makes the rename of `final` durable.
        DurableFile.WriteAllBytes(System.IO.Path.Combine(Directory, LatestFile), System.Text.Encoding.UTF8.GetBytes(name));
        Prune();
        return final;
    }

    /// <summary>Complete checkpoint directories, oldest first (temp directories excluded).</summary>
    public IReadOnlyList<string> List() =>
        [.. System.IO.Directory.EnumerateDirectories(Directory)
            .Where(d => StepName().IsMatch(System.IO.Path.GetFileName(d)))
            .OrderBy(d => long.Parse(System.IO.Path.GetFileName(d)[5..], System.Globalization.CultureInfo.InvariantCulture))];

    /// <summary>
    /// Loads and verifies one checkpoint directory; throws <see cref="CheckpointException"/> naming the file and the fault.
    /// Without <paramref name="withOptimizer"/> the optimizer file is verified (size and SHA-256) but not loaded: the
    /// checkpoint's <see cref="Checkpoint.Optimizer"/> is empty (an export needs only the weights).
    /// </summary>
    public static Checkpoint Load(string checkpointDirectory, bool withOptimizer = true)
    {
        var dir = System.IO.Path.GetFullPath(checkpointDirectory);
        if (!System.IO.Directory.Exists(dir)) throw new CheckpointException($"{dir}: checkpoint directory not found");
        var manifestPath = System.IO.Path.Combine(dir, ManifestFile);
        var digestPath = System.IO.Path.Combine(dir, ManifestDigestFile);
        if (!File.Exists(manifestPath) || !File.Exists(digestPath))
            throw new CheckpointException($"{dir}: incomplete checkpoint ({ManifestFile} or {ManifestDigestFile} missing)");
        var manifestBytes = File.ReadAllBytes(manifestPath);
        if (Sha256(manifestBytes) != File.ReadAllText(digestPath).Trim())
            throw new CheckpointException($"{manifestPath}: SHA-256 does not match {ManifestDigestFile}: the manifest is corrupt");
        CheckpointManifest manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<CheckpointManifest>(manifestBytes, Json) ?? throw new JsonException("null manifest");
        }
        catch (JsonException ex)
        {
            throw new CheckpointException($"{manifestPath}: unreadable manifest ({ex.Message})", ex);
        }
        if (manifest.FormatVersion != CheckpointManifest.CurrentFormat)
            throw new CheckpointException($"{manifestPath}: checkpoint format {manifest.FormatVersion}, this build reads format {CheckpointManifest.CurrentFormat}");
        var contents = new Dictionary<string, Dictionary<string, Tensor>>(StringComparer.Ordinal);
        try
        {
            foreach (var required in new[] { ModelFile, OptimizerFile })
            {
                if (!manifest.Files.TryGetValue(required, out var expected)) throw new CheckpointException($"{manifestPath}: lists no {required}");
                var path = System.IO.Path.Combine(dir, required);
                if (required == OptimizerFile && !withOptimizer) Verify(path, expected);
                else contents[required] = ReadVerified(path, expected);
            }
        }
        catch
        {
            foreach (var t in contents.Values.SelectMany(c => c.Values)) t.Dispose();
            throw;
        }
        return new Checkpoint(dir, manifest, contents[ModelFile], contents.GetValueOrDefault(OptimizerFile) ?? []);
    }

    /// <summary>
    /// The newest checkpoint that verifies (the one <c>latest</c> names first, then the others newest first), or null
    /// when there is none; <paramref name="skipped"/> says why each newer one was passed over.
    /// </summary>
    public Checkpoint? LoadLatestGood(out IReadOnlyList<string> skipped, bool withOptimizer = true)
    {
        var reasons = new List<string>();
        var candidates = List().Reverse().ToList();
        var latest = System.IO.Path.Combine(Directory, LatestFile);
        if (File.Exists(latest))
        {
            var named = System.IO.Path.Combine(Directory, File.ReadAllText(latest).Trim());
            if (candidates.Remove(named)) candidates.Insert(0, named);
        }
        foreach (var dir in candidates)
        {
            try
            {
                var cp = Load(dir, withOptimizer);
                skipped = reasons;
                return cp;
            }
            catch (CheckpointException ex)
            {
                reasons.Add(ex.Message);
            }
        }
        skipped = reasons;
        return null;
    }

    private void Prune()
    {
        var all = List();
        foreach (var old in all.Take(Math.Max(0, all.Count - KeepLast))) System.IO.Directory.Delete(old, recursive: true);
    }

    private void CleanTemp()
    {
        foreach (var d in System.IO.Directory.EnumerateDirectories(Directory, ".tmp-*")) System.IO.Directory.Delete(d, recursive: true);
        foreach (var f in System.IO.Directory.EnumerateFiles(Directory, ".tmp-*")) File.Delete(f);
    }

    /// <summary>Streams a safetensors file to disk durably, hashing it on the way (no file-sized array).</summary>
    private static CheckpointFile WriteTensors(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long bytes = 0;
        DurableFile.WriteNew(path, stream => bytes = SafeTensors.Write(stream, tensors, hash: hash));
        return new CheckpointFile(Hex(hash.GetHashAndReset()), bytes);
    }

    /// <summary>
    /// Reads a safetensors file in one pass, hashing every byte as it goes, and returns its tensors only when size and
    /// SHA-256 match the manifest. A file that fails to parse is hashed again (the error path only) so that corruption
    /// is reported as such rather than as the parse fault it caused.
    /// </summary>
    private static Dictionary<string, Tensor> ReadVerified(string path, CheckpointFile expected)
    {
        CheckSize(path, expected);
        var corrupt = new CheckpointException($"{path}: SHA-256 does not match the manifest: the file is corrupt");
        Dictionary<string, Tensor> tensors;
        string digest;
        using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            try
            {
                tensors = SafeTensors.ReadAll(path, hash).Tensors;
            }
            catch (CheckpointException) when (Sha256(path) != expected.Sha256)
            {
                throw corrupt;
            }
            digest = Hex(hash.GetHashAndReset());
        }
        if (digest == expected.Sha256) return tensors;
        foreach (var t in tensors.Values) t.Dispose();
        throw corrupt;
    }

    /// <summary>Checks a file's size and SHA-256 against the manifest without loading it.</summary>
    private static void Verify(string path, CheckpointFile expected)
    {
        CheckSize(path, expected);
        if (Sha256(path) != expected.Sha256) throw new CheckpointException($"{path}: SHA-256 does not match the manifest: the file is corrupt");
    }

    private static void CheckSize(string path, CheckpointFile expected)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: missing");
        var length = new FileInfo(path).Length;
        if (length != expected.Bytes)
            throw new CheckpointException($"{path}: {length} bytes, the manifest says {expected.Bytes}: the file is truncated or was replaced");
    }

    private static CheckpointFile WriteDurably(string path, byte[] bytes)
    {
        DurableFile.WriteNew(path, bytes);
        return new CheckpointFile(Sha256(bytes), bytes.Length);
    }

    private static string Sha256(byte[] bytes) => Hex(SHA256.HashData(bytes));

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Hex(SHA256.HashData(stream));
    }

    private static string Hex(byte[] digest) => Convert.ToHexString(digest).ToLowerInvariant();

    [GeneratedRegex(@"^step-\d{6,}$")]
    private static partial Regex StepName();
}
