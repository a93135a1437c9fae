using RoRecomp.Model.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace RoRecomp.Model.Tests;

public class TorchRuntimeTests
{
    /// <summary>tests/test.runsettings reaches the test host: libgomp's idle threads sleep instead of spinning, so the
    /// solution's several libtorch test hosts (and a training run beside them) do not starve each other of cores.</summary>
    [Fact]
    public void Test_host_runs_with_passive_omp_wait_policy() =>
        Assert.Equal("PASSIVE", Environment.GetEnvironmentVariable("OMP_WAIT_POLICY"));

    [Fact]
    public void Tensor_math_works_on_this_machine()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var a = tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        var b = a.matmul(a);
        Assert.Equal(new float[] { 7, 10, 15, 22 }, b.data<float>().ToArray());
    }

    [Fact]
    public void Backward_pass_gives_analytic_gradient()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var x = tensor(new float[] { 1f, -2f, 3f }, requires_grad: true);
        var y = (x * x * x).sum();   // dy/dx = 3x^2
        y.backward();
        Assert.Equal(new float[] { 3f, 12f, 27f }, x.grad!.data<float>().ToArray());
    }

    [Fact]
    public void Elf_patcher_reads_version_requirements_of_the_shipped_library()
    {
        var dir = TorchRuntime.FindNativeDirectory();
        Assert.NotNull(dir);
        var bytes = File.ReadAllBytes(Path.Combine(dir!, "libLibTorchSharp.so"));
        var versions = ElfVersionPatcher.RequiredVersions(bytes);
        Assert.Contains(versions, v => v.StartsWith("GLIBC_", StringComparison.Ordinal));
        Assert.Contains("GLIBCXX_3.4.32", versions);
        var copy = (byte[])bytes.Clone();
        Assert.Equal(1, ElfVersionPatcher.MarkWeak(copy, new[] { "GLIBCXX_3.4.32" }));
        Assert.Equal(versions, ElfVersionPatcher.RequiredVersions(copy));
        Assert.Equal(bytes.Length, copy.Length);
        Assert.Equal(1, bytes.Zip(copy).Count(p => p.First != p.Second)); // exactly one byte (the flags' low byte) changes
    }
}
