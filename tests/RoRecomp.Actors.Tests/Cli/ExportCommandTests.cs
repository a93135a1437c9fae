using System.Text.Json;
using RoRecomp.Cli;
using RoRecomp.Cli.Commands;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.HuggingFace;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;
using RoRecomp.Training;
using RoRecomp.Training.Runs;
using static TorchSharp.torch;

namespace RoRecomp.Actors.Tests.Cli;

/// <summary><c>rorecomp export</c> as a user runs it: through the command line, with its exit codes.</summary>
public sealed class ExportCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"rorecomp-export-cli-{Guid.NewGuid():N}");

    public ExportCommandTests() => TorchRuntime.EnsureLoaded();

    public void Dispose() => TestDirs.Delete(_dir);

    [Fact]
    public void Export_writes_a_directory_that_loads_with_identical_logits_and_refuses_bad_input_with_exit_code_2()
    {
        var run = Path.Combine(_dir, "run");
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, RunFiles.RunConfigFile), "rorecomp.run.task = thinking\n");
        TorchRuntime.ManualSeed(5);
        using var policy = new PolicyTransformer(new TransformerConfig(40, 32, 48, 2, 4, 2, 64));
        using (var scope = NewDisposeScope())
        {
            new CheckpointStore(RunContext.CheckpointDirectoryOf(run)).Save(6, 6, policy.state_dict(), new Dictionary<string, Tensor>(),
                JsonSerializer.Serialize(policy.Config));
        }
        var output = Path.Combine(_dir, "hf");

        Assert.Equal(0, Program.Main(["export", "--format", "hf", "--out", output, "--run-dir", run]));
        var (loaded, report) = HfModelLoader.Load(output);
        using (loaded)
        using (var scope = NewDisposeScope())
        {
            Assert.True(report.IsExact);
            var tokens = tensor(new long[] { 3, 4, 5, 6, 7, 8 }, [2, 3]);
            var positions = arange(3L).unsqueeze(0).expand(2, 3);
            var mask = ones(2, 3, dtype: ScalarType.Bool);
            using var ng = no_grad();
            policy.eval();
            loaded.eval();
            Assert.Equal(0f, (policy.Forward(tokens, positions, mask) - loaded.Forward(tokens, positions, mask)).abs().max().item<float>());
        }

        Assert.Equal(CliKit.UsageError, Program.Main(["export", "--out", output, "--run-dir", run]));   // exists, not empty
        Assert.Equal(CliKit.UsageError, Program.Main(["export", "--format", "onnx", "--out", Path.Combine(_dir, "x"), "--run-dir", run]));
        Assert.Equal(CliKit.UsageError, Program.Main(["export", "--out", Path.Combine(_dir, "y"), "--run-dir", _dir]));   // no checkpoint
        Assert.Equal(CliKit.UsageError, Program.Main(["export", "--run-dir", run]));   // --out is required
    }
}
