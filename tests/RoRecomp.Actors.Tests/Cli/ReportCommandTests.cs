using RoRecomp.Actors.Tests.Experiments;
using RoRecomp.Cli;
using RoRecomp.Cli.Commands;
using RoRecomp.Model.Tests;

namespace RoRecomp.Actors.Tests.Cli;

/// <summary><c>rorecomp report --copy-evidence --at-step</c> as a user runs it: through the command line, with its exit codes.</summary>
public sealed class ReportCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-report-cli-").FullName;

    public void Dispose() => TestDirs.Delete(_dir);

    [Fact]
    public void Copy_evidence_at_a_step_writes_the_runs_and_the_summary_the_fixture_holds_and_refuses_bad_input_with_exit_code_2()
    {
        // An experiment directory: the fixture's runs plus what the copy must leave behind.
        var fixture = Path.Combine(TestAssets.RepoRoot(), "tests", "RoRecomp.Actors.Tests", "Experiments", "Evidence", "at-step-4");
        var experiment = Path.Combine(_dir, "experiment");
        EvidenceRebuildTests.CopyTree(Path.Combine(fixture, "runs"), experiment);
        Directory.CreateDirectory(Path.Combine(experiment, "grpo", "seed-1", "checkpoints", "step-000006"));
        File.WriteAllText(Path.Combine(experiment, "grpo", "seed-1", "checkpoints", "step-000006", "model.safetensors"), "x");
        File.WriteAllText(Path.Combine(experiment, "grpo", "seed-1", "journal.db"), "x");

        var results = Path.Combine(_dir, "results", "thinking");
        Assert.Equal(0, Program.Main(["report", "--runs", experiment, "--out", results, "--copy-evidence", "--at-step", "4"]));

        Assert.Equal(File.ReadAllText(Path.Combine(fixture, "summary.json")), File.ReadAllText(Path.Combine(results, "summary.json")));
        Assert.True(File.Exists(Path.Combine(results, "runs", "rorecomp", "seed-2", "metrics.jsonl")));
        Assert.True(File.Exists(Path.Combine(results, "runs", "warm-1", "sft-summary.json")));
        Assert.False(Directory.Exists(Path.Combine(results, "runs", "grpo", "seed-1", "checkpoints")));
        Assert.False(File.Exists(Path.Combine(results, "runs", "grpo", "seed-1", "journal.db")));
        Assert.True(File.Exists(Path.Combine(results, "index.html")));

        Assert.Equal(CliKit.UsageError, Program.Main(["report", "--runs", experiment, "--copy-evidence"]));   // no --out
        Assert.Equal(CliKit.UsageError, Program.Main(["report", "--runs", experiment, "--out", Path.Combine(experiment, "report"), "--copy-evidence"]));
        Assert.Equal(CliKit.UsageError, Program.Main(["report", "--runs", experiment, "--out", Path.Combine(_dir, "r3"), "--at-step", "3"]));   // no evaluation there
        Assert.NotEqual(0, Program.Main(["report", "--runs", experiment, "--at-step", "0"]));
    }
}
