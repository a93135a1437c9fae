using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;

namespace RoRecomp.Model.Runtime;

/// <summary>
/// Makes TorchSharp's native library load on this machine before the first tensor is made.
/// <para>
/// TorchSharp 0.107's <c>libLibTorchSharp.so</c> asks for <c>GLIBCXX_3.4.32</c> (GCC 13), which older
/// distributions such as Debian 12 (GCC 12, GLIBCXX up to 3.4.30) lack. The only symbol behind that version
/// is <c>std::ios_base_library_init</c>, referenced and never called. Where (and only where) the system's
/// libstdc++ lacks a version the library asks for, a copy of the library is made with that version
/// requirement marked weak (<c>VER_FLG_WEAK</c> in <c>.gnu.version_r</c>), libtorch is loaded by full path
/// from TorchSharp's own native folder (a second libtorch from elsewhere aborts the process), and the copy
/// is handed to TorchSharp through a <see cref="NativeLibrary.SetDllImportResolver"/> on its assembly.
/// </para>
/// <para>
/// A rule for all code here that calls TorchSharp: never leave a temporary tensor (or generator) to the finalizer.
/// TorchSharp's wrappers hold a raw native pointer, not a SafeHandle, so once a call such as <c>t.detach().cpu()</c> has
/// read the temporary's pointer the temporary is unreachable, and a garbage collection on another thread can run its
/// finalizer, which frees the native tensor while libtorch is still reading it: a rare segfault (seen in long runs,
/// reproduced by <c>FinalizerStressTests</c>). Temporaries live in a <c>NewDisposeScope()</c> or a <c>using</c>,
/// which keeps them reachable until the native call has returned.
/// </para>
/// </summary>
public static class TorchRuntime
{
    private static readonly object Gate = new();
    private static bool _initialized;
    private static string _description = "not initialized";

    /// <summary>How the native library was loaded (for diagnostics and logs).</summary>
    public static string Description => _description;

    /// <summary>Runs <see cref="EnsureLoaded"/> as soon as this assembly is used.</summary>
    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "Native loader must run before TorchSharp.")]
    internal static void Init()
    {
        try { EnsureLoaded(); }
        catch (TorchRuntimeException) { /* reported again, with its message, by the first explicit EnsureLoaded() call */ }
    }

    /// <summary>
    /// Seeds the global torch RNG. <c>torch.manual_seed</c> returns a new wrapper of the default generator; it is
    /// disposed here rather than left to the finalizer (see the type's remarks).
    /// </summary>
    public static void ManualSeed(long seed)
    {
        EnsureLoaded();
        using var generator = torch.manual_seed(seed);
    }

    /// <summary>Loads TorchSharp's native code (idempotent, thread-safe). Throws <see cref="TorchRuntimeException"/> with a clear message when it cannot.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_initialized) return;
            try
            {
                if (OperatingSystem.IsLinux()) PrepareLinux();
                // First real call into libtorch: fails here, not in the middle of a model, if anything is off.
                using var probe = torch.ones(1);
                using var sum = probe.sum();
                _ = sum.item<float>();
                _initialized = true;
                if (_description == "not initialized") _description = "TorchSharp native library loaded as shipped";
            }
            catch (Exception ex) when (ex is not TorchRuntimeException)
            {
                throw new TorchRuntimeException(
                    $"TorchSharp's native library could not be loaded: {Flatten(ex)}. " +
                    $"Native folder searched: {FindNativeDirectory() ?? "(none found)"}. " +
                    "Check that the build used the right backend (-p:TorchBackend=cpu|cuda) and that the app's runtimes/<rid>/native folder " +
                    "holds libtorch and libLibTorchSharp (a clean rebuild restores them).", ex);
            }
        }
    }

    private static string Flatten(Exception ex)
    {
        var parts = new List<string>();
        for (var e = ex; e != null; e = e.InnerException) parts.Add(e.Message);
        return string.Join(" -> ", parts.Distinct());
    }

    /// <summary>The folder TorchSharp loads native libraries from: the app's runtimes/&lt;rid&gt;/native, or the app folder itself (RID-specific publish).</summary>
    public static string? FindNativeDirectory()
    {
        var baseDir = AppContext.BaseDirectory;
        var rid = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "linux-arm64" : "linux-x64";
        foreach (var dir in new[] { Path.Combine(baseDir, "runtimes", rid, "native"), baseDir })
        {
            if (File.Exists(Path.Combine(dir, "libLibTorchSharp.so"))) return dir;
        }
        return null;
    }

    private static void PrepareLinux()
    {
        var nativeDir = FindNativeDirectory();
        if (nativeDir is null) return; // Let TorchSharp search on its own; its error (wrapped above) will say what is missing.
        var original = Path.Combine(nativeDir, "libLibTorchSharp.so");
        var stdcxx = FindSystemLibStdCxx();
        if (stdcxx is null) return;
        var systemVersions = File.ReadAllBytes(stdcxx);
        var missing = ElfVersionPatcher.RequiredVersions(File.ReadAllBytes(original))
            .Where(v => v.StartsWith("GLIBCXX_", StringComparison.Ordinal) || v.StartsWith("CXXABI_", StringComparison.Ordinal))
            .Where(v => !ContainsCString(systemVersions, v))
            .ToArray();
        if (missing.Length == 0)
        {
            _description = $"TorchSharp native library loaded as shipped from {nativeDir}";
            return;
        }

        var patched = ElfVersionPatcher.GetOrCreatePatchedCopy(original, missing);
        // Load libtorch from TorchSharp's own folder, by full path, before the patched copy (which lives elsewhere
        // and would otherwise search for it by name): a second libtorch from another folder aborts the process.
        foreach (var lib in new[] { "libc10.so", "libc10_cuda.so", "libtorch_cpu.so", "libtorch_cuda.so", "libtorch.so" })
        {
            var path = Path.Combine(nativeDir, lib);
            if (File.Exists(path)) NativeLibrary.Load(path);
        }
        var handle = NativeLibrary.Load(patched);
        NativeLibrary.SetDllImportResolver(typeof(torch).Assembly, (name, _, _) =>
            name is "LibTorchSharp" or "libLibTorchSharp" or "libLibTorchSharp.so" ? handle : IntPtr.Zero);
        _description = $"TorchSharp native library patched for the system libstdc++ ({string.Join(", ", missing)} marked weak): {patched}";
    }

    private static string? FindSystemLibStdCxx()
    {
        if (!NativeLibrary.TryLoad("libstdc++.so.6", out _)) return null;
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            var idx = line.IndexOf('/');
            if (idx < 0) continue;
            var path = line[idx..].Trim();
            if (Path.GetFileName(path).StartsWith("libstdc++.so", StringComparison.Ordinal)) return path;
        }
        return null;
    }

    private static bool ContainsCString(byte[] haystack, string value)
    {
        var needle = new byte[value.Length + 2];
        needle[0] = 0;
        System.Text.Encoding.ASCII.GetBytes(value, 0, value.Length, needle, 1);
        needle[^1] = 0;
        return haystack.AsSpan().IndexOf(needle) >= 0;
    }
}

/// <summary>TorchSharp's native code could not be loaded; the message says why and what to do.</summary>
public sealed class TorchRuntimeException(string message, Exception? inner = null) : Exception(message, inner);
