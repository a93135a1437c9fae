using System.Diagnostics;
using RoRecomp.Model.Runtime;
using TorchSharp;

namespace RoRecomp.Model.Tests;

public class DeviceSelectorTests
{
    [Fact]
    public void Auto_and_cuda_fall_back_to_cpu_when_no_gpu_is_visible()
    {
        Assert.Equal(DeviceType.CPU, DeviceSelector.Select("auto", cudaAvailable: false).Device.type);
        var cuda = DeviceSelector.Select("cuda", cudaAvailable: false);
        Assert.Equal(DeviceType.CPU, cuda.Device.type);
        Assert.Contains("not available", cuda.Reason);
        Assert.Contains("TorchBackend=cuda", cuda.Reason);
    }

    [Fact]
    public void On_this_machine_auto_is_cpu()
    {
        // CI and development machines here have no GPU and build the CPU backend.
        Assert.False(torch.cuda.is_available());
        Assert.Equal(DeviceType.CPU, DeviceSelector.Select("auto").Device.type);
    }

    [Fact]
    public void Cuda_is_chosen_when_visible_and_bad_values_are_refused()
    {
        var c = DeviceSelector.Select("cuda:1", cudaAvailable: true, cudaDevices: 2);
        Assert.Equal(DeviceType.CUDA, c.Device.type);
        Assert.Equal(1, c.Device.index);
        Assert.Equal(DeviceType.CPU, DeviceSelector.Select("cuda:3", cudaAvailable: true, cudaDevices: 2).Device.type);
        Assert.Throws<ArgumentException>(() => DeviceSelector.Select("cuda:3", strict: true, cudaAvailable: true, cudaDevices: 2));
        Assert.Contains("expected auto, cpu, cuda or cuda:N", Assert.Throws<ArgumentException>(() => DeviceSelector.Select("tpu")).Message);
        Assert.Throws<ArgumentException>(() => DeviceSelector.Select("cuda:x"));
    }

    [Theory]
    [InlineData("cpu", "TorchSharp-cpu")]
    [InlineData("cuda", "TorchSharp-cuda-linux")]
    public void The_backend_switch_selects_the_torchsharp_package(string backend, string package)
    {
        // MSBuild evaluation only (no restore): the CUDA package is not on every mirror, but the switch must reference it.
        var csproj = Path.Combine(TestAssets.RepoRoot(), "src", "RoRecomp.Model", "RoRecomp.Model.csproj");
        var psi = new ProcessStartInfo("dotnet", ["msbuild", csproj, "-getItem:PackageReference", $"-p:TorchBackend={backend}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        Assert.Contains($"\"Identity\": \"{package}\"", output);
        Assert.DoesNotContain(backend == "cpu" ? "TorchSharp-cuda-linux" : "\"TorchSharp-cpu\"", output);
    }
}
