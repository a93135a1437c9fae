using TorchSharp;
using static TorchSharp.torch;

namespace RoRecomp.Model.Checkpoints;

/// <summary>What loading a state dict into a module found.</summary>
/// <param name="Loaded">Names copied into the module.</param>
/// <param name="Missing">Names the module has and the source lacks (left as they were).</param>
/// <param name="Unexpected">Names the source has and the module lacks (ignored).</param>
public sealed record StateDictLoadReport(IReadOnlyList<string> Loaded, IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected)
{
    /// <summary>Whether every name matched both ways.</summary>
    public bool IsExact => Missing.Count == 0 && Unexpected.Count == 0;
}

/// <summary>Copies named tensors into a module's parameters and buffers, checking names and shapes.</summary>
public static class StateDicts
{
    /// <summary>
    /// Copies <paramref name="source"/> into <paramref name="module"/> (converting dtype and device). A shape mismatch always
    /// throws, naming the tensor and both shapes; with <paramref name="strict"/>, missing or unexpected names throw too,
    /// listing them. <paramref name="source"/> names the origin in messages.
    /// </summary>
    public static StateDictLoadReport Load(nn.Module module, IReadOnlyDictionary<string, Tensor> tensors, bool strict, string source)
    {
        var target = module.state_dict();
        var shapeErrors = new List<string>();
        foreach (var (name, t) in target)
        {
            if (tensors.TryGetValue(name, out var s) && !s.shape.SequenceEqual(t.shape))
                shapeErrors.Add($"{name}: checkpoint [{string.Join(", ", s.shape)}] vs model [{string.Join(", ", t.shape)}]");
        }
        if (shapeErrors.Count > 0)
            throw new CheckpointException($"{source} does not match the model (another model config?): {string.Join("; ", shapeErrors.Take(5))}{(shapeErrors.Count > 5 ? $"; and {shapeErrors.Count - 5} more" : "")}");
        var missing = target.Keys.Where(k => !tensors.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var unexpected = tensors.Keys.Where(k => !target.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        if (strict && (missing.Count > 0 || unexpected.Count > 0))
            throw new CheckpointException($"{source} does not match the model: missing [{string.Join(", ", missing.Take(10))}{(missing.Count > 10 ? ", ..." : "")}], unexpected [{string.Join(", ", unexpected.Take(10))}{(unexpected.Count > 10 ? ", ..." : "")}]");
        var loaded = new List<string>();
        using (no_grad())
        {
            foreach (var (name, t) in target)
            {
                if (!tensors.TryGetValue(name, out var s)) continue;
                using var converted = s.to(t.dtype, t.device);   // disposed after the copy, not finalized during it
                t.copy_(converted);
                loaded.Add(name);
            }
        }
        return new StateDictLoadReport(loaded, missing, unexpected);
    }
}
