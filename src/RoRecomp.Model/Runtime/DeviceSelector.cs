using TorchSharp;

namespace RoRecomp.Model.Runtime;

/// <summary>The device a model runs on, and why it was chosen.</summary>
/// <param name="Device">The TorchSharp device.</param>
/// <param name="Reason">One line for logs, e.g. "cuda requested but not available: using cpu".</param>
public sealed record DeviceChoice(torch.Device Device, string Reason);

/// <summary>
/// Turns the config value <c>rorecomp.model.device</c> (<c>auto</c> | <c>cpu</c> | <c>cuda</c> | <c>cuda:N</c>) into a device.
/// <c>auto</c> takes CUDA when this build has the CUDA backend (<c>-p:TorchBackend=cuda</c>) and a GPU is visible, else the CPU.
/// An explicit <c>cuda</c> falls back to the CPU with the reason said, unless <paramref name="strict"/> is set, when it throws.
/// </summary>
public static class DeviceSelector
{
    /// <summary>Chooses the device; <paramref name="cudaAvailable"/> and <paramref name="cudaDevices"/> are for tests (default: ask TorchSharp).</summary>
    public static DeviceChoice Select(string requested, bool strict = false, bool? cudaAvailable = null, int? cudaDevices = null)
    {
        TorchRuntime.EnsureLoaded();
        var value = (requested ?? "auto").Trim().ToLowerInvariant();
        var available = cudaAvailable ?? torch.cuda.is_available();
        var count = cudaDevices ?? (available ? torch.cuda.device_count() : 0);
        switch (value)
        {
            case "cpu":
                return new DeviceChoice(torch.CPU, "cpu requested");
            case "auto":
                return available && count > 0
                    ? new DeviceChoice(new torch.Device(DeviceType.CUDA, 0), $"auto: {count} CUDA device(s) visible, using cuda:0")
                    : new DeviceChoice(torch.CPU, "auto: no CUDA device visible (or a CPU build of TorchSharp), using cpu");
        }
        if (value == "cuda" || value.StartsWith("cuda:", StringComparison.Ordinal))
        {
            var index = 0;
            if (value.Length > 5 && (!int.TryParse(value[5..], out index) || index < 0))
                throw new ArgumentException($"rorecomp.model.device = '{requested}': the CUDA index must be a non-negative integer, as in cuda:0");
            if (available && index < count) return new DeviceChoice(new torch.Device(DeviceType.CUDA, index), $"cuda:{index} requested");
            var why = available
                ? $"cuda:{index} requested but only {count} CUDA device(s) are visible"
                : "cuda requested but not available (this build uses TorchSharp's CPU backend, or no GPU/driver is visible; build GPU nodes with -p:TorchBackend=cuda)";
            if (strict) throw new ArgumentException($"rorecomp.model.device = '{requested}': {why}");
            return new DeviceChoice(torch.CPU, $"{why}: using cpu");
        }
        throw new ArgumentException($"rorecomp.model.device = '{requested}': expected auto, cpu, cuda or cuda:N");
    }
}
