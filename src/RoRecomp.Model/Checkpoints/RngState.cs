using static TorchSharp.torch;

namespace RoRecomp.Model.Checkpoints;

/// <summary>
/// The global torch RNG state as a string for <see cref="CheckpointManifest.RngState"/> (base64 of
/// <c>torch.get_rng_state()</c>), so a resumed run draws the same random numbers as the uninterrupted one.
/// </summary>
public static class RngState
{
    /// <summary>The current global RNG state.</summary>
    public static string Capture()
    {
        using var state = get_rng_state();
        return Convert.ToBase64String(state.bytes.ToArray());
    }

    /// <summary>Restores a state from <see cref="Capture"/>; a malformed string is refused.</summary>
    public static void Restore(string captured)
    {
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(captured);
        }
        catch (FormatException ex)
        {
            throw new CheckpointException($"RNG state in the checkpoint manifest is not base64: {ex.Message}", ex);
        }
        using var current = get_rng_state();
        if (bytes.Length != current.NumberOfElements)
            throw new CheckpointException($"RNG state in the checkpoint manifest has {bytes.Length} bytes, this libtorch uses {current.NumberOfElements}");
        using var state = tensor(bytes, dtype: ScalarType.Byte);
        set_rng_state(state);
    }
}
