using RoRecomp.Core.IO;
using RoRecomp.Core.Metrics;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Steps;

namespace RoRecomp.Training.Tests;

/// <summary>The run files: the exact text each writer produces, the readers (old forms included) and the durable writes.</summary>
public sealed class RunFilesTests : IDisposable
{
    /// <summary>Step 3 of a seeded run as the JsonObject writer before the typed records wrote it: key order and number formatting.</summary>
    private const string Step3 =
        """{"step":3,"policy_version":3,"accuracy":0.46875,"mean_length":34.15625,"mean_length_correct":37.4,"tool_calls":0,"format_valid":0.9375,"responses":32,"priority_size":17,"short_correct":8,"long_incorrect":9,"compensation_size":16,"buffer_size":13,"min_policy_version":2,"policy_lag":0,"loss":0.20974314212799072,"entropy":0.1335582195872992,"clip_fraction":0,"approx_kl":-6.277614246896455E-09,"grad_norm":0.8955168128013611,"lr":5E-05,"compensation_loss":-0.29222071170806885,"compensation_weight":1,"cursor":24,"step_s":2.456,"train_s":0.799,"wall_s":10.123,"eval_accuracy":0.4375,"eval_mean_length":39.5625,"eval_tool_calls":0,"eval_format_valid":0.90625,"checkpoint":"checkpoints/step-000003"}""";

    /// <summary>summary.json of that run as the JsonObject writer wrote it (no tool calls: their change is null).</summary>
    private const string Summary = """
        {
          "task": "thinking",
          "recomposition": true,
          "steps": 6,
          "wall_s": 18.7,
          "warm_start": {
            "step": 0,
            "accuracy": 0.5625,
            "mean_length": 41.84375,
            "tool_calls": 0,
            "format_valid": 0.875
          },
          "final": {
            "step": 6,
            "accuracy": 0.46875,
            "mean_length": 35.59375,
            "tool_calls": 0,
            "format_valid": 0.90625
          },
          "length_change_percent": -14.94,
          "accuracy_change_points": -9.38,
          "tool_calls_change_percent": null
        }
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-runfiles-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static StepRecord Step3Record(string runDir, bool eval = true, bool checkpoint = true) => new(
        new StepMetrics(3, 3, 32, 0.46875, 34.15625, 37.4, 0, 0.9375, 17, 16, 8, 9, 13, 2),
        new LearnerMetrics(0.20974314212799072, 0.1335582195872992, 0, -6.277614246896455E-09, 0.8955168128013611, 5E-05, -0.29222071170806885, 1, 0.79912),
        eval ? new HeldOutEvaluation(3, 0.4375, 39.5625, 0, 0.90625, 32) : null,
        24, 2.45581, checkpoint ? Path.Combine(runDir, "checkpoints", "step-000003") : null);

    [Fact]
    public void A_metrics_line_is_written_key_for_key_as_before_and_reads_back()
    {
        RunFiles.AppendMetrics(_dir, MetricsLine.From(Step3Record(_dir), 10.12349, _dir));
        Assert.Equal(Step3 + "\n", File.ReadAllText(RunFiles.PathOf(_dir, RunFiles.MetricsFile)));

        var line = Assert.Single(RunFiles.ReadMetrics(_dir));
        Assert.Equal(Step3, RunFiles.Format(line));
        Assert.Equal(new HeldOutEvaluation(3, 0.4375, 39.5625, 0, 0.90625, 0), line.Evaluation());
    }

    [Fact]
    public void A_step_without_evaluation_or_checkpoint_has_no_such_keys()
    {
        var text = RunFiles.Format(MetricsLine.From(Step3Record(_dir, eval: false, checkpoint: false), 10.123, _dir));
        Assert.EndsWith("\"wall_s\":10.123}", text, StringComparison.Ordinal);
        Assert.DoesNotContain("eval_", text, StringComparison.Ordinal);
        Assert.DoesNotContain("checkpoint", text, StringComparison.Ordinal);
    }

    [Fact]
    public void An_audited_evaluation_adds_its_unnecessary_tool_calls_to_the_line_and_the_summary()
    {
        var eval = new HeldOutEvaluation(3, 0.4375, 39.5625, 2.5, 0.90625, 32, UnnecessaryToolCalls: 0.75);
        var line = MetricsLine.From(Step3Record(_dir) with { Eval = eval }, 10.12349, _dir);
        var text = RunFiles.Format(line);
        Assert.EndsWith("\"checkpoint\":\"checkpoints/step-000003\",\"eval_unnecessary_tool_calls\":0.75}", text, StringComparison.Ordinal);
        RunFiles.AppendMetrics(_dir, line);
        Assert.Equal(eval with { Responses = 0 }, Assert.Single(RunFiles.ReadMetrics(_dir)).Evaluation());

        RunFiles.WriteBaseline(_dir, eval);
        Assert.Contains("\"unnecessary_tool_calls\": 0.75", File.ReadAllText(RunFiles.PathOf(_dir, RunFiles.BaselineFile)), StringComparison.Ordinal);
        Assert.Equal(eval, RunFiles.ReadBaseline(_dir));
        Assert.Equal(0.75, SummaryEvaluation.From(eval)!.UnnecessaryToolCalls);
    }

    [Fact]
    public void Keeping_metrics_through_a_step_keeps_their_text_and_reports_a_line_cut_short()
    {
        var path = RunFiles.PathOf(_dir, RunFiles.MetricsFile);
        string[] lines = ["""{"step":1,"lr":5E-05,"extra":"kept as written"}""", """{"no_step":true}""", """{"step":2,"wall_s":4.5}""", """{"step":3}""", """{"step":4,"lo"""];
        File.WriteAllText(path, string.Join("\n", lines) + "\n");
        var faults = new List<(int, MetricsLineFault)>();

        var kept = RunFiles.KeepMetricsThrough(_dir, 2, (n, f) => faults.Add((n, f)));

        Assert.Equal([1L, 2], kept.Select(l => l.Step));
        Assert.Equal(4.5, kept[^1].WallSeconds);
        Assert.Equal(lines[0] + "\n" + lines[2] + "\n", File.ReadAllText(path));
        Assert.Equal([(2, MetricsLineFault.NoStep), (5, MetricsLineFault.NotJson)], faults);
    }

    [Fact]
    public void The_baseline_is_written_in_snake_case_and_the_old_pascal_case_file_still_reads()
    {
        var evaluation = new HeldOutEvaluation(0, 0.5625, 41.84375, 0.25, 0.875, 32);
        RunFiles.WriteBaseline(_dir, evaluation);
        var text = File.ReadAllText(RunFiles.PathOf(_dir, RunFiles.BaselineFile));
        Assert.Contains("\"mean_length\": 41.84375", text, StringComparison.Ordinal);
        Assert.DoesNotContain("MeanLength", text, StringComparison.Ordinal);
        Assert.Equal(evaluation, RunFiles.ReadBaseline(_dir));

        File.WriteAllText(RunFiles.PathOf(_dir, RunFiles.BaselineFile), """
            {
              "Step": 0,
              "Accuracy": 0.5625,
              "MeanLength": 41.84375,
              "ToolCalls": 0.25,
              "FormatValid": 0.875,
              "Responses": 32
            }
            """);
        Assert.Equal(evaluation, RunFiles.ReadBaseline(_dir));
        Assert.Null(RunFiles.ReadBaseline(Path.Combine(_dir, "none")));
    }

    [Fact]
    public void The_summary_is_written_as_before_with_nulls_for_unknown_changes_and_reads_back()
    {
        var warm = new HeldOutEvaluation(0, 0.5625, 41.84375, 0, 0.875, 32);
        var final = new HeldOutEvaluation(6, 0.46875, 35.59375, 0, 0.90625, 32);
        var summary = new RunSummary("thinking", true, 6, 18.7123, 0.5625, 41.84375, 0, 0.46875, 35.59375, 0,
            (35.59375 - 41.84375) / 41.84375 * 100, (0.46875 - 0.5625) * 100, double.NaN);
        Assert.False(RunFiles.IsFinished(_dir));

        RunFiles.WriteSummary(_dir, RunSummaryFile.From(summary, warm, final));

        Assert.True(RunFiles.IsFinished(_dir));
        Assert.Equal(Summary.ReplaceLineEndings(Environment.NewLine), File.ReadAllText(RunFiles.PathOf(_dir, RunFiles.SummaryFile)));
        var read = RunFiles.ReadSummary(_dir)!;
        Assert.Equal(SummaryEvaluation.From(final), read.Final);
        Assert.Null(read.ToolCallsChangePercent);
        Assert.Null(RunSummaryFile.From(summary, null, null).WarmStart);
    }

    [Fact]
    public void The_sft_summary_is_snake_case_and_reads_back()
    {
        var summary = new SftSummary("thinking", 200, 0.594059405940594, 39.32673267326733, 0, 0.9603960396039604, 7, 1579712, 172.0913189, "sft/step-000200");
        RunFiles.WriteSftSummary(_dir, summary);
        var text = File.ReadAllText(RunFiles.PathOf(_dir, RunFiles.SftSummaryFile));
        foreach (var key in new[] { "task", "steps", "eval_accuracy", "eval_mean_length", "eval_tool_calls", "eval_format_valid", "seed", "parameters", "wall_s", "checkpoint" })
            Assert.Contains($"\"{key}\": ", text, StringComparison.Ordinal);
        Assert.Equal(summary, RunFiles.ReadSftSummary(_dir));
    }

    [Fact]
    public void A_durable_write_replaces_the_file_and_leaves_no_temp_file()
    {
        var path = Path.Combine(_dir, "file.txt");
        DurableFile.WriteAllText(path, "old");
        DurableFile.WriteAllText(path, "new");
        DurableFile.AppendText(path, "+more");
        Assert.Equal("new+more", File.ReadAllText(path));
        Assert.Equal(["file.txt"], Directory.GetFiles(_dir).Select(Path.GetFileName));
        DurableFile.SyncDirectory(_dir);   // no-op where impossible, never throws
    }

    [Fact]
    public void A_progress_line_overwrites_in_place_on_a_terminal_and_prints_lines_when_redirected()
    {
        var terminal = new StringWriter { NewLine = "\n" };
        var live = new ProgressLine(terminal, interactive: true, width: 8);
        live.Show("a 1");
        live.Show("a 2");
        live.Message("joined");
        live.Show("a 3", keep: true);
        live.End();
        Assert.Equal("\ra 1     \ra 2     \njoined\n\ra 3     \n", terminal.ToString());

        var log = new StringWriter { NewLine = "\n" };
        var plain = new ProgressLine(log, interactive: false, width: 8);
        plain.Show("a 1", plain: false);
        plain.Show("a 2");
        plain.Show("a 3", keep: true, plain: false);
        plain.Message("joined");
        plain.End();
        Assert.Equal("a 2\na 3\njoined\n", log.ToString());
    }
}
