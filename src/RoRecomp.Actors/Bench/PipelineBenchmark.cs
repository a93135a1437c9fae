using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using RoRecomp.Settings;
using RoRecomp.Training.Runs;
using RoRecomp.Training;
using RoRecomp.Training.Loop;
using RoRecomp.Training.Steps;
using RoRecomp.Actors.Runners;
using RoRecomp.Actors.Hosting;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;

namespace RoRecomp.Actors.Bench;

/// <summary>What <see cref="PipelineBenchmark.RunAsync"/> runs.</summary>
/// <param name="Settings">The layers over the defaults (as <c>train --config</c>, <c>--set</c>), the same for every side;
/// its <see cref="SettingsOverrides.Checkpoint"/> is the warm start (<c>--checkpoint</c>), or null: then the settings' own,
/// else an SFT warm start made first (not timed).</param>
/// <param name="Steps">RL steps measured on each side.</param>
/// <param name="AsyncLag"><c>async.max-policy-lag</c> of the asynchronous actor run (0 = no such run).</param>
/// <param name="Warmup">Run one untimed loop step first, so that neither side pays the process's first-use costs (JIT, allocator).</param>
public sealed record PipelineBenchmarkOptions(
    SettingsOverrides Settings, int Steps = 8, int AsyncLag = 1, bool Warmup = true);

/// <summary>One measured step of one side.</summary>
/// <param name="Step">The step.</param>
/// <param name="Seconds">Wall seconds of the step (actors: from the previous step's report to this one's).</param>
/// <param name="Accuracy">Sampled accuracy of the online batch.</param>
/// <param name="MeanLength">Mean response length (tokens) of the online batch.</param>
/// <param name="PrioritySize">Responses in the priority batch.</param>
/// <param name="CompensationSize">Responses drawn from the replay buffer.</param>
/// <param name="BufferSize">Responses held by the buffer after the step.</param>
/// <param name="PolicyLag">Versions the oldest behaviour policy of the batch lagged the policy it trained into.</param>
/// <param name="Loss">Priority batch loss.</param>
public sealed record PipelineStep(
    long Step, double Seconds, double Accuracy, double MeanLength, int PrioritySize, int CompensationSize, int BufferSize, long PolicyLag, double Loss)
{
    /// <summary>A step from its <c>metrics.jsonl</c> line, with <paramref name="seconds"/> as its wall time.</summary>
    public static PipelineStep From(MetricsLine line, double seconds) => new(
        line.Step, seconds, line.Accuracy, line.MeanLength, line.PrioritySize, line.CompensationSize, line.BufferSize, line.PolicyLag, line.Loss);
}

/// <summary>The measured steps of one side of the benchmark.</summary>
/// <param name="Name">"loop", "actors" or "actors, max-policy-lag L".</param>
/// <param name="Steps">Its steps, in order.</param>
public sealed record PipelineSide(string Name, IReadOnlyList<PipelineStep> Steps)
{
    /// <summary>Wall seconds of all measured steps.</summary>
    public double TotalSeconds => Steps.Sum(s => s.Seconds);

    /// <summary>Mean wall seconds per step.</summary>
    public double MeanSeconds => Steps.Count == 0 ? 0 : TotalSeconds / Steps.Count;

    /// <summary>Responses trained on in priority batches.</summary>
    public int PriorityResponses => Steps.Sum(s => s.PrioritySize);

    /// <summary>Responses trained on in compensation batches (async rollouts change when the buffer can fill one).</summary>
    public int CompensationResponses => Steps.Sum(s => s.CompensationSize);
}

/// <summary>Measured figures of <see cref="PipelineBenchmark.RunAsync"/>.</summary>
/// <param name="Task">The run's task.</param>
/// <param name="PromptsPerStep">B of the online batch.</param>
/// <param name="SamplesPerPrompt">G of the online batch.</param>
/// <param name="WarmStart">The warm-start checkpoint every side started from.</param>
/// <param name="Loop">The plain loop.</param>
/// <param name="Actors">The actor pipeline, synchronous (max-policy-lag 0).</param>
/// <param name="AsyncActors">The actor pipeline with async rollouts, or null when not run.</param>
/// <param name="AsyncLag">Its max-policy-lag (0 when not run).</param>
/// <param name="ComparedKeys">The metrics.jsonl keys compared between the loop and the synchronous actors, step by step.</param>
/// <param name="Mismatches">Where they differ ("step 2: loss 0.41 (loop) vs 0.42 (actors)"); empty when every compared figure is identical.</param>
public sealed record PipelineBenchmarkResult(
    string Task, int PromptsPerStep, int SamplesPerPrompt, string WarmStart, PipelineSide Loop, PipelineSide Actors, PipelineSide? AsyncActors,
    int AsyncLag, IReadOnlyList<string> ComparedKeys, IReadOnlyList<string> Mismatches)
{
    /// <summary>Extra wall time of the synchronous actor pipeline over the loop, in percent (target &lt;= 3).</summary>
    public double OverheadPercent => Percent(Actors.TotalSeconds, Loop.TotalSeconds);

    /// <summary>Extra wall time of the async actor pipeline over the loop, in percent (target &lt; 0: faster); NaN when not run.</summary>
    public double AsyncOverheadPercent => AsyncActors is null ? double.NaN : Percent(AsyncActors.TotalSeconds, Loop.TotalSeconds);

    /// <summary>Whether the synchronous actor run and the loop produced identical per-step metrics.</summary>
    public bool MetricsMatch => Mismatches.Count == 0;

    private static double Percent(double x, double baseline) => (x - baseline) / baseline * 100;
}

/// <summary>
/// Actor pipeline overhead benchmark (DESIGN.md §4: a step through the actors costs &lt;= 3% more wall time than the same
/// compute in a plain loop; with async rollouts the actors are faster). The actor side is the real <c>train</c> job
/// (<see cref="TrainRunner.RunAsync"/>, a fresh run directory, SQLite journal, checkpoints as configured), timed from its
/// <c>metrics.jsonl</c> <c>wall_s</c>; it runs one step more than is measured, because the last step of a run ends with a
/// held-out evaluation (periodic evaluation is off on every side). The loop is <see cref="TrainingLoop.Run"/>: the same
/// step functions of the Training layer that the actors call, one piece at a time, with no actors, Akka or persistence.
/// The pipeline is deterministic under a seed, so the synchronous
/// actor run must write the loop's metrics exactly; the benchmark compares them step by step.
/// </summary>
public static class PipelineBenchmark
{
    /// <summary>The metrics.jsonl keys that the loop and the synchronous actors must agree on (everything but times, evaluations and checkpoints).</summary>
    public static readonly ImmutableArray<string> ComparedKeys =
    [
        "step", "policy_version", "accuracy", "mean_length", "mean_length_correct", "tool_calls", "format_valid", "responses",
        "priority_size", "short_correct", "long_incorrect", "compensation_size", "buffer_size", "min_policy_version", "policy_lag",
        "loss", "entropy", "clip_fraction", "approx_kl", "grad_norm", "lr", "compensation_loss", "compensation_weight", "cursor",
    ];

    /// <summary>
    /// Runs the benchmark in <paramref name="workDir"/> (the warm start, when one is trained, and one run directory per
    /// actor run; it must not hold runs already): the warm start, an untimed warm-up step, the loop, the synchronous
    /// actors, then the async actors. Progress and the train runs' output go to <paramref name="log"/>.
    /// </summary>
    public static async Task<PipelineBenchmarkResult> RunAsync(PipelineBenchmarkOptions o, string workDir, TextWriter? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(o.Steps, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(o.AsyncLag);
        log ??= TextWriter.Null;
        var layers = o.Settings.Checkpoint is { } checkpoint ? o.Settings with { Checkpoint = Path.GetFullPath(checkpoint) } : o.Settings;
        var settings = SettingsLoader.Load(layers);
        Directory.CreateDirectory(workDir);

        // One warm start for every side; an SFT warm start is trained here, outside every timing.
        TorchRuntime.EnsureLoaded();
        var warmStart = WarmStart.Prepare(settings, workDir, log, interactive: false);
        // The run is one step longer than measured (its last step ends with an evaluation); the loop uses the same total,
        // which the compensation weight schedule depends on.
        long totalSteps = o.Steps + 1;
        layers = layers with { Checkpoint = warmStart, EvalEvery = 0, Steps = (int)totalSteps };
        var loopSettings = SettingsLoader.Load(layers with { MaxPolicyLag = 0 });

        if (o.Warmup)
        {
            log.WriteLine("bench pipeline: warm-up (1 untimed loop step)");
            _ = TrainingLoop.Run(loopSettings, warmStart, 1, totalSteps, TextWriter.Null);
        }
        log.WriteLine($"bench pipeline: loop, {o.Steps} steps");
        GC.Collect();
        var loopLines = TrainingLoop.Run(loopSettings, warmStart, o.Steps, totalSteps, log);

        log.WriteLine($"bench pipeline: actors (train, max-policy-lag 0), {totalSteps} steps, the first {o.Steps} measured");
        var actorLines = await RunActorsAsync(layers, Path.Combine(workDir, "actors"), 0, o.Steps, log, cancellationToken);

        PipelineSide? asyncSide = null;
        if (o.AsyncLag > 0)
        {
            log.WriteLine($"bench pipeline: actors (train, max-policy-lag {o.AsyncLag}), {totalSteps} steps, the first {o.Steps} measured");
            var asyncLines = await RunActorsAsync(layers, Path.Combine(workDir, $"actors-lag{o.AsyncLag}"), o.AsyncLag, o.Steps, log, cancellationToken);
            asyncSide = Side($"actors, max-policy-lag {o.AsyncLag}", asyncLines);
        }

        var r = loopSettings.Run;
        return new PipelineBenchmarkResult(
            r.Task, r.PromptsPerStep, r.SamplesPerPrompt, warmStart, Side("loop", loopLines), Side("actors", actorLines), asyncSide,
            o.AsyncLag, ComparedKeys, Compare(loopLines, actorLines));
    }

    /// <summary>Runs the train job (one step more than measured) and returns the measured steps' metrics.jsonl lines.</summary>
    private static async Task<IReadOnlyList<MetricsLine>> RunActorsAsync(
        SettingsOverrides layers, string runDir, int lag, int measured, TextWriter log, CancellationToken cancellationToken)
    {
        GC.Collect();
        var options = new TrainOptions(layers with { MaxPolicyLag = lag, RunDir = runDir });
        await TrainRunner.RunAsync(options, log, interactive: false, cancellationToken);
        var lines = RunFiles.ReadMetrics(runDir);
        if (lines.Count < measured || !lines.Take(measured).Select(l => l.Step).SequenceEqual(Enumerable.Range(1, measured).Select(i => (long)i)))
            throw new InvalidOperationException($"{runDir}: metrics.jsonl does not hold steps 1..{measured} in order");
        return lines.Take(measured).ToList();
    }

    /// <summary>A side's steps; a step's wall time is its <c>wall_s</c> minus the previous step's.</summary>
    private static PipelineSide Side(string name, IReadOnlyList<MetricsLine> lines)
    {
        var steps = new List<PipelineStep>();
        var previous = 0.0;
        foreach (var l in lines)
        {
            var wall = l.WallSeconds;
            steps.Add(PipelineStep.From(l, Math.Round(wall - previous, 3)));   // wall_s has millisecond resolution
            previous = wall;
        }
        return new PipelineSide(name, steps);
    }

    /// <summary>Every compared figure where the actors' line differs from the loop's, as text.</summary>
    private static List<string> Compare(IReadOnlyList<MetricsLine> loop, IReadOnlyList<MetricsLine> actors)
    {
        var mismatches = new List<string>();
        if (loop.Count != actors.Count) mismatches.Add($"{loop.Count} loop steps vs {actors.Count} actor steps");
        foreach (var (la, lb) in loop.Zip(actors))
        {
            // Key by key as metrics.jsonl writes them.
            var a = JsonSerializer.SerializeToNode(la, RunFiles.Json)!;
            var b = JsonSerializer.SerializeToNode(lb, RunFiles.Json)!;
            foreach (var key in ComparedKeys)
            {
                var x = a[key]?.ToJsonString() ?? "(missing)";
                var y = b[key]?.ToJsonString() ?? "(missing)";
                if (x != y) mismatches.Add($"step {la.Step}: {key} {x} (loop) vs {y} (actors)");
            }
        }
        return mismatches;
    }
}
