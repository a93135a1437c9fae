using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using RoRecomp.Actors.Bench;
using RoRecomp.Settings;
using RoRecomp.Actors.Coordination;
using RoRecomp.Training.Runs;
using RoRecomp.Actors.Protocols;
using RoRecomp.Weights;
using RoRecomp.Model.Bench;
using RoRecomp.Model.Checkpoints;

namespace RoRecomp.Cli.Commands;

/// <summary>
/// `rorecomp bench &lt;what&gt; [options] [--json FILE]`: benchmarks that check the speed and memory targets of DESIGN.md §4
/// (model, buffer, pipeline, weights). Each prints a table and, with --json, writes its figures as one JSON object.
/// </summary>
public static class BenchCommand
{
    /// <summary>The command with its sub-benchmarks.</summary>
    public static Command Create()
    {
        var command = new Command("bench", "benchmarks of the DESIGN.md §4 targets; each prints a table and, with --json, writes its figures as one JSON object");
        command.Add(BufferCommand());
        command.Add(CoordinationCommand());
        command.Add(ModelCommand());
        command.Add(PipelineCommand());
        command.Add(ScaleCommand());
        command.Add(WeightsCommand());
        return command;
    }

    private static Option<string?> Json() => CliKit.Text("--json", "FILE", "write the figures to FILE as one JSON object");

    private static Option<string?> Dir(string what) => CliKit.Text("--dir", "DIR", $"work directory (must be empty; default a temporary one, deleted after): {what}");

    private static Command BufferCommand()
    {
        var responses = CliKit.Positive("--responses", 100_000, "responses passed through the buffer");
        var batch = CliKit.Positive("--batch", 256, "responses per store request (one journal event)");
        var tokens = CliKit.Positive("--tokens", 64, "token ids and log-probs per response");
        var capacity = CliKit.Positive("--capacity", 4096, "buffer capacity (rorecomp.buffer.capacity): responses held at the end");
        var snapshotEvery = CliKit.Positive("--snapshot-every", 1000, "events between snapshots (rorecomp.buffer.snapshot-every)");
        var inFlight = CliKit.Positive("--in-flight", 4, "store requests outstanding at once");
        var journal = CliKit.Text("--journal", "sqlite|postgresql", "journal provider (default sqlite, a file in --dir)");
        var connection = CliKit.Text("--connection", "STRING", "PostgreSQL connection string (default: $RORECOMP_TEST_PG)");
        var bodiesOption = CliKit.Text("--response-bodies", "table|journal", "where token arrays are kept (rorecomp.buffer.response-bodies; default table)");
        var dir = Dir("the SQLite journal");
        var json = Json();
        var command = new Command("buffer", "replay buffer: MB/s and responses/s journaled, journal size vs what the buffer holds, recovery time of the full buffer")
        {
            responses, batch, tokens, capacity, snapshotEvery, inFlight, journal, connection, bodiesOption, dir, json,
        };
        command.SetAction(p => Buffer(
            new ReplayBufferBenchOptions(
                p.GetValue(responses), p.GetValue(batch), p.GetValue(tokens), p.GetValue(capacity), p.GetValue(snapshotEvery),
                p.GetValue(journal) ?? "sqlite", p.GetValue(connection) ?? Environment.GetEnvironmentVariable("RORECOMP_TEST_PG") ?? "",
                p.GetValue(inFlight), p.GetValue(bodiesOption) ?? RoRecomp.Settings.BufferSettings.Table),
            p.GetValue(dir),
            p.GetValue(json)));
        return command;
    }

    private static Command CoordinationCommand()
    {
        var samplers = CliKit.Text("--samplers", "N[,N...]", "sampler counts to measure, one cluster each (default 1,4,16,64,256)");
        var processes = CliKit.Positive("--processes", 4, "sampler processes (at most one per sampler)");
        var generationMs = CliKit.Positive("--generation-ms", 200, "wall ms a stand-in sampler takes per lease");
        var updateMs = CliKit.Positive("--update-ms", 250, "wall ms the stand-in learner takes per step");
        var responseTokens = CliKit.Positive("--response-tokens", 1024, "tokens per response (token ids and log-probs)");
        var samplesPerPrompt = CliKit.Positive("--samples-per-prompt", 8, "responses per group");
        var steps = CliKit.Positive("--steps", 20, "measured steps per sampler count (after the warm-up steps)");
        var warmup = CliKit.Positive("--warmup-steps", 60, "steps before the measured ones, not timed (JIT tiering: tens of seconds of recompiling in every process; connection pools)");
        var lag = new Option<int>("--lag") { Description = "async.max-policy-lag (0 = synchronous)", HelpName = "L", DefaultValueFactory = _ => 1 };
        var config = CliKit.Config();
        var set = CliKit.Set();
        var dir = Dir("the run directories");
        var json = Json();
        var worker = new Option<bool>("--worker") { Hidden = true, Arity = System.CommandLine.ArgumentArity.Zero };
        var seed = new Option<string?>("--seed") { Hidden = true };
        var command = new Command("coordination",
            "coordination path: stand-in samplers (a timed wait, responses of real size) in sampler processes on 127.0.0.1 and a stand-in " +
            "learner (a fixed update time) through the real coordinator, verifiers, recomposer and replay buffer; groups/s, overhead per " +
            "group, learner idle share and remote bytes per step for each sampler count, and the ceiling")
        {
            samplers, processes, generationMs, updateMs, responseTokens, samplesPerPrompt, steps, warmup, lag, config, set, dir, json, worker, seed,
        };
        command.SetAction(p =>
        {
            var layers = new SettingsOverrides(p.GetValue(config), p.GetValue(set));
            var sim = new SimulatedSampling(p.GetValue(generationMs), p.GetValue(responseTokens));
            if (p.GetValue(worker))
            {
                if (p.GetValue(seed) is not { } address) return Fail("--worker needs --seed");
                var stop = Task.Run(() =>
                {
                    while (Console.In.ReadLine() is not null)
                    {
                    }
                });
                return CliKit.Handle("bench coordination --worker", () =>
                {
                    CoordinationBenchmark.RunWorkerAsync(layers with { SeedNodes = [address] }, sim, stop, Console.Out).GetAwaiter().GetResult();
                    return 0;
                });
            }
            var counts = new List<int>();
            foreach (var item in CliKit.List(p.GetValue(samplers) ?? "1,4,16,64,256"))
            {
                if (!int.TryParse(item, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 1)
                    return Fail($"--samplers: '{item}' is not a positive integer");
                counts.Add(n);
            }
            if (p.GetValue(lag) < 0) return Fail($"--lag {p.GetValue(lag)}: expected >= 0");
            var options = new CoordinationBenchOptions(
                counts, p.GetValue(processes), sim.GenerationMs, p.GetValue(updateMs), sim.ResponseTokens, p.GetValue(steps), p.GetValue(lag),
                p.GetValue(samplesPerPrompt), typeof(BenchCommand).Assembly.Location, layers, p.GetValue(warmup));
            return Coordination(options, p.GetValue(dir), p.GetValue(json));
        });
        return command;
    }

    private static int Coordination(CoordinationBenchOptions options, string? workDir, string? json)
    {
        var dir = workDir ?? Path.Combine(Path.GetTempPath(), $"rorecomp-bench-coordination-{Guid.NewGuid():N}");
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
            return Fail($"--dir {dir} is not empty: the benchmark needs fresh run directories");
        Console.WriteLine($"bench coordination: samplers {string.Join(",", options.Samplers)} over up to {options.Processes} processes, generation {options.GenerationMs} ms, " +
            $"update {options.UpdateMs} ms, {options.SamplesPerPrompt} x {options.ResponseTokens}-token responses a group, lag {options.Lag}, {options.WarmupSteps} warm-up + {options.Steps} measured steps, in {dir} ...");
        CoordinationBenchResult? r = null;
        using (var signals = new StopSignals("bench coordination: stopping ({signal})"))
        {
            var code = CliKit.Handle("bench coordination", () =>
            {
                r = CoordinationBenchmark.RunAsync(options, dir, Console.Out, signals.Token).GetAwaiter().GetResult();
                return 0;
            });
            if (r is null) return code;
        }
        Console.WriteLine();
        Console.WriteLine($"  {"samplers",8} {"procs",5} {"groups/s",9} {"ideal s",8} {"overhead ms/group",18} {"learner idle",13} {"(coordination)",15} {"MB/step",8} {"payload MB/step",16} {"buffer wait ms",15}");
        foreach (var p in r.Points)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {p.Samplers,8} {p.Processes,5} {p.GroupsPerSecond,9:F1} {p.IdealStepSeconds,8:F3} {p.OverheadMsPerGroup,18:F2} {p.LearnerIdleFraction,13:P1} {p.LearnerIdleForCoordination,15:P1} " +
                $"{p.BytesPerStep / 1e6,8:F2} {p.PayloadBytesPerStep / 1e6,16:F2} {p.LearnerBufferSeconds * 1000,15:F0}"));
        }
        var at64 = r.Points.FirstOrDefault(p => p.Samplers == 64 && p.Processes >= 4);
        Console.WriteLine(at64 is null
            ? "  overhead at 64 samplers / 4 processes: not measured (give --samplers with 64 and --processes >= 4)"
            : string.Create(CultureInfo.InvariantCulture,
                $"  overhead at 64 samplers / 4 processes  {at64.OverheadMsPerGroup,8:F2} ms/group (target < 1)  {(at64.OverheadMsPerGroup < 1 ? "met" : "MISSED")}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  ceiling  {(r.CeilingReached ? "" : ">= ")}{r.CeilingSamplers} samplers, {r.CeilingGroupsPerSecond:F1} groups/s; limited by {r.Limit}"));
        var figures = new Dictionary<string, object>
        {
            ["samplers"] = r.Points.Select(p => p.Samplers).ToList(),
            ["processes"] = r.Points.Select(p => p.Processes).ToList(),
            ["generation_ms"] = options.GenerationMs,
            ["update_ms"] = options.UpdateMs,
            ["response_tokens"] = options.ResponseTokens,
            ["samples_per_prompt"] = options.SamplesPerPrompt,
            ["lag"] = options.Lag,
            ["steps"] = options.Steps,
            ["warmup_steps"] = options.WarmupSteps,
            ["groups_per_step"] = r.Points.Select(p => p.GroupsPerStep).ToList(),
            ["wall_s"] = r.Points.Select(p => p.WallSeconds).ToList(),
            ["groups_per_s"] = r.Points.Select(p => p.GroupsPerSecond).ToList(),
            ["ideal_step_s"] = r.Points.Select(p => p.IdealStepSeconds).ToList(),
            ["overhead_ms_per_group_by_samplers"] = r.Points.Select(p => p.OverheadMsPerGroup).ToList(),
            ["learner_idle_fraction"] = r.Points.Select(p => p.LearnerIdleFraction).ToList(),
            ["learner_idle_coordination_fraction"] = r.Points.Select(p => p.LearnerIdleForCoordination).ToList(),
            ["remote_bytes_per_step"] = r.Points.Select(p => p.BytesPerStep).ToList(),
            ["payload_bytes_per_step"] = r.Points.Select(p => p.PayloadBytesPerStep).ToList(),
            ["learner_buffer_wait_s"] = r.Points.Select(p => p.LearnerBufferSeconds).ToList(),
            ["trained_steps"] = r.Points.Select(p => p.TrainedSteps).ToList(),
            ["cpu_s_per_process"] = r.Points.Select(p => p.CpuSeconds).ToList(),
            ["learner_jit_s"] = r.Points.Select(p => p.LearnerJitSeconds).ToList(),
            ["ceiling_samplers"] = r.CeilingSamplers,
            ["ceiling_groups_per_s"] = r.CeilingGroupsPerSecond,
            ["ceiling_reached"] = r.CeilingReached,
            ["ceiling_limit"] = r.Limit,
        };
        if (at64 is not null) figures["overhead_ms_per_group"] = at64.OverheadMsPerGroup;
        else figures["overhead_ms_per_group"] = r.Points[^1].OverheadMsPerGroup;
        figures["overhead_ms_per_group_at_samplers"] = (at64 ?? r.Points[^1]).Samplers;
        WriteJson(json, figures);
        if (workDir == null) Directory.Delete(dir, recursive: true);
        return 0;
    }

    private static Command ModelCommand()
    {
        var rows = CliKit.Positive("--rows", 64, "decoded rows");
        var newTokens = CliKit.Positive("--new-tokens", 64, "tokens decoded per row");
        var trainRows = CliKit.Positive("--train-rows", 64, "training rows");
        var trainTokens = CliKit.Positive("--train-tokens", 128, "tokens per training row");
        var repeats = CliKit.Positive("--repeats", 3, "repeats of each measurement");
        var threads = CliKit.Positive("--threads", Environment.ProcessorCount, "TorchSharp threads");
        var json = Json();
        var command = new Command("model", "policy model (tiny preset): KV-cache vs no-cache decoding, training tokens/s and FLOP/s vs the matmul peak")
        {
            rows, newTokens, trainRows, trainTokens, repeats, threads, json,
        };
        command.SetAction(p => Model(
            new ModelBenchOptions(
                Rows: p.GetValue(rows), NewTokens: p.GetValue(newTokens), TrainRows: p.GetValue(trainRows), TrainTokens: p.GetValue(trainTokens),
                Repeats: p.GetValue(repeats), Threads: p.GetValue(threads)),
            p.GetValue(json)));
        return command;
    }

    private static Command ScaleCommand()
    {
        var preset = new Option<string>("--preset") { Description = "model shape, random init: qwen2.5-0.5b | qwen2.5-1.5b", DefaultValueFactory = _ => "qwen2.5-0.5b" };
        var threads = CliKit.Positive("--threads", Environment.ProcessorCount, "TorchSharp threads");
        var json = Json();
        var command = new Command("scale",
            "a real model size on this machine: KV-cache sampling tokens/s and its fraction of the decode roofline, training tokens/s and " +
            "its fraction of the matmul peak, learner and sampler peak memory vs their budget, checkpoint write/read, publish-to-fetch")
        {
            preset, threads, json,
        };
        command.SetAction(p => Scale(p.GetValue(preset)!, p.GetValue(threads), p.GetValue(json)));
        return command;
    }

    private static int Scale(string preset, int threads, string? json)
    {
        var r = ScaleBenchmark.Run(new ScaleBenchOptions(Preset: preset, Threads: threads), line => Console.WriteLine($"bench scale: {line}"));
        var text = r.ToJson();
        Console.WriteLine(text);
        if (json != null) File.WriteAllText(json, text);
        return 0;
    }

    private static Command PipelineCommand()
    {
        var steps = CliKit.Positive("--steps", 8, "measured RL steps per side");
        var checkpoint = CliKit.Text("--checkpoint", "DIR", "warm start (else SFT first, not timed)");
        var config = CliKit.Config();
        var set = CliKit.Set();
        var lag = CliKit.Positive("--lag", 1, "the async run's max-policy-lag");
        var noAsync = CliKit.Flag("--no-async", "skip the run with async rollouts");
        var noWarmup = CliKit.Flag("--no-warmup", "skip the untimed warm-up step");
        var dir = Dir("the warm start and the run directories");
        var json = Json();
        var command = new Command("pipeline",
            "actor pipeline overhead: N RL steps of `train` through the actors vs the same compute in a plain loop (and with async " +
            "rollouts); checks that the loop and the actors write the same per-step metrics")
        {
            steps, checkpoint, config, set, lag, noAsync, noWarmup, dir, json,
        };
        command.SetAction(p => Pipeline(
            new PipelineBenchmarkOptions(
                new SettingsOverrides(p.GetValue(config), p.GetValue(set)) { Checkpoint = p.GetValue(checkpoint) }, p.GetValue(steps),
                p.GetValue(noAsync) ? 0 : p.GetValue(lag), Warmup: !p.GetValue(noWarmup)),
            p.GetValue(dir), p.GetValue(json)));
        return command;
    }

    private static Command WeightsCommand()
    {
        var mb = CliKit.Positive("--mb", 1024, "blob size in MiB");
        var repeat = CliKit.Positive("--repeat", 3, "uncapped single fetches");
        var chunkKb = CliKit.Positive("--chunk-kb", 4096, "chunk size in KiB (the unit verified and relayed)");
        var fetchers = CliKit.Positive("--fetchers", 1, "fetcher nodes getting one version through the relay tree (1 = single fetches only)");
        var link = CliKit.Positive("--link-mb-per-s", 200, "with --fetchers > 1: every node's upload cap in MB/s, emulating a cluster's links on one machine");
        var fanOut = new Option<int>("--fan-out") { Description = "with --fetchers > 1: the relay tree's fan-out (1 = a chain, 0 = every fetcher from the learner)", DefaultValueFactory = _ => 1 };
        var json = Json();
        var command = new Command("weights", "weight sync: verified fetches over loopback TCP (GB/s), and N fetchers through relays at a capped link (learner upload, time vs one fetch)")
        {
            mb, repeat, chunkKb, fetchers, link, fanOut, json,
        };
        command.SetAction(p => Weights(
            p.GetValue(mb), p.GetValue(repeat), p.GetValue(chunkKb), p.GetValue(fetchers), p.GetValue(link), p.GetValue(fanOut), p.GetValue(json)));
        return command;
    }

    private static int Buffer(ReplayBufferBenchOptions o, string? workDir, string? json)
    {
        if (o.Journal is not ("sqlite" or "postgresql"))
            return Fail($"--journal {o.Journal}: expected sqlite or postgresql");
        if (o.Journal == "postgresql" && o.ConnectionString.Length == 0)
            return Fail("--journal postgresql needs --connection \"Host=...;Database=...;Username=...;Password=...\" (or RORECOMP_TEST_PG)");
        if (o.ResponseBodies is not (RoRecomp.Settings.BufferSettings.Table or RoRecomp.Settings.BufferSettings.Journal))
            return Fail($"--response-bodies {o.ResponseBodies}: expected table or journal");
        var dir = workDir ?? Path.Combine(Path.GetTempPath(), $"rorecomp-bench-buffer-{Guid.NewGuid():N}");
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
            return Fail($"--dir {dir} is not empty: the benchmark needs a fresh journal");
        Console.WriteLine($"bench buffer: {o.Responses:N0} responses of {o.Tokens} tokens in batches of {o.BatchSize} through a buffer of {o.Capacity:N0}, journal {o.Journal}, response bodies in the {o.ResponseBodies} ...");
        var r = ReplayBufferBenchmark.Run(dir, o, line => Console.WriteLine($"bench buffer: {line}")).GetAwaiter().GetResult();
        var held = Math.Min(o.Responses, o.Capacity);
        Console.WriteLine($"  made durable         {r.JournalMbPerSecond,12:N1} MB/s   (target >= 100 on SQLite)  {(o.Journal != "sqlite" ? "" : r.JournalMbPerSecond >= 100 ? "met" : "MISSED")}");
        Console.WriteLine($"  journaled            {r.ResponsesPerSecond,12:N0} responses/s");
        Console.WriteLine($"  recovery             {r.RecoverySeconds,12:N2} s      (target < 5 s for a full 4,096 x 8k-token buffer)  {(held == 4096 && o.Tokens >= 8192 ? r.RecoverySeconds < 5 ? "met" : "MISSED" : "n/a at this size")}");
        Console.WriteLine($"  recovered            {r.Recovered,12:N0} of {held:N0} held");
        Console.WriteLine($"  held responses       {r.HeldBytes / 1e6,12:N1} MB");
        Console.WriteLine($"  journal kept         {r.JournalBytes / 1e6,12:N1} MB = {r.JournalBytesRatio:N2} x held  (target <= 2 after 1,000,000 responses; this run: {o.Responses:N0})");
        Console.WriteLine($"  database on disk     {r.DatabaseBytes / 1e6,12:N1} MB = {r.DatabaseBytesRatio:N2} x held  ({(o.Journal == "sqlite" ? "SQLite file: high-water mark incl. free pages" : "journal, snapshot and body tables, all runs in the database")})");
        WriteJson(json, new Dictionary<string, object>
        {
            ["journal"] = o.Journal,
            ["responses"] = o.Responses,
            ["batch_size"] = o.BatchSize,
            ["tokens_per_response"] = o.Tokens,
            ["capacity"] = o.Capacity,
            ["snapshot_every"] = o.SnapshotEvery,
            ["in_flight"] = o.InFlight,
            ["response_bodies"] = o.ResponseBodies,
            ["store_s"] = r.StoreSeconds,
            ["journaled_bytes"] = r.JournaledBytes,
            ["journal_mb_per_s"] = r.JournalMbPerSecond,
            ["responses_per_s"] = r.ResponsesPerSecond,
            ["held_bytes"] = r.HeldBytes,
            ["journal_bytes"] = r.JournalBytes,
            ["journal_bytes_ratio"] = r.JournalBytesRatio,
            ["database_bytes"] = r.DatabaseBytes,
            ["database_bytes_ratio"] = r.DatabaseBytesRatio,
            ["recovery_s"] = r.RecoverySeconds,
            ["recovered"] = r.Recovered,
        });
        if (workDir == null) Directory.Delete(dir, recursive: true);
        return r.Recovered == held ? 0 : 1;
    }

    private static int Model(ModelBenchOptions options, string? json)
    {
        var r = ModelBenchmark.Run(options, line => Console.WriteLine($"bench model: {line}"));
        Console.WriteLine($"  tiny preset            {r.Parameters,12:N0} parameters, {r.Threads} threads");
        Console.WriteLine($"  fp32 matmul peak       {r.MatmulPeakGflops,12:N1} GFLOP/s");
        Console.WriteLine($"  decode, KV cache       {r.DecodeTokensPerSecond,12:N0} tokens/s");
        Console.WriteLine($"  decode, no cache       {r.DecodeNoCacheTokensPerSecond,12:N0} tokens/s");
        Console.WriteLine($"  KV-cache speed-up      {r.KvCacheSpeedup,12:N2} x       (target >= 5)    {(r.KvCacheSpeedup >= 5 ? "met" : "MISSED")}");
        Console.WriteLine($"  training               {r.TrainTokensPerSecond,12:N0} tokens/s");
        Console.WriteLine($"  training FLOP/s        {r.TrainGflops,12:N1} GFLOP/s = {r.TrainFlopsFractionOfPeak:P0} of peak (target >= 30%)  {(r.TrainFlopsFractionOfPeak >= 0.3 ? "met" : "MISSED")}");
        Console.WriteLine($"  FLOP count             {r.FlopFormula}");
        WriteJson(json, new Dictionary<string, object>
        {
            ["parameters"] = r.Parameters,
            ["threads"] = r.Threads,
            ["matmul_peak_gflops"] = r.MatmulPeakGflops,
            ["kv_cache_speedup"] = r.KvCacheSpeedup,
            ["decode_tokens_per_s"] = r.DecodeTokensPerSecond,
            ["decode_no_cache_tokens_per_s"] = r.DecodeNoCacheTokensPerSecond,
            ["train_tokens_per_s"] = r.TrainTokensPerSecond,
            ["train_gflops"] = r.TrainGflops,
            ["train_flops_fraction_of_peak"] = r.TrainFlopsFractionOfPeak,
            ["flop_formula"] = r.FlopFormula,
        });
        return 0;
    }

    private static int Pipeline(PipelineBenchmarkOptions options, string? workDir, string? json)
    {
        var dir = workDir ?? Path.Combine(Path.GetTempPath(), $"rorecomp-bench-pipeline-{Guid.NewGuid():N}");
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
            return Fail($"--dir {dir} is not empty: the benchmark needs fresh run directories");
        Console.WriteLine($"bench pipeline: {options.Steps} measured steps per side, in {dir} ...");
        PipelineBenchmarkResult? r = null;
        using (var signals = new StopSignals("bench pipeline: stopping ({signal})"))
        {
            var code = CliKit.Handle("bench pipeline", () =>
            {
                r = PipelineBenchmark.RunAsync(options, dir, Console.Out, signals.Token).GetAwaiter().GetResult();
                return 0;
            });
            if (r is null) return code;
        }
        var sides = new List<PipelineSide> { r.Loop, r.Actors };
        var labels = new List<string> { "loop s", "actors s" };
        if (r.AsyncActors is { } a)
        {
            sides.Add(a);
            labels.Add($"lag-{r.AsyncLag} s");
        }
        Console.WriteLine();
        Console.WriteLine($"bench pipeline: {r.Task}, {r.Loop.Steps.Count} steps of {r.PromptsPerStep} prompts x {r.SamplesPerPrompt} samples, warm start {r.WarmStart}");
        Console.WriteLine($"  {"step",6}{string.Concat(labels.Select(label => $"{label,12}"))}   accuracy  mean length  priority  comp  buffer");
        for (var i = 0; i < r.Loop.Steps.Count; i++)
        {
            var l = r.Loop.Steps[i];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {l.Step,6}{string.Concat(sides.Select(s => $"{s.Steps[i].Seconds,12:F3}"))}   {l.Accuracy,8:P1}  {l.MeanLength,11:F1}  {l.PrioritySize,8}  {l.CompensationSize,4}  {l.BufferSize,6}"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"mean",6}{string.Concat(sides.Select(s => $"{s.MeanSeconds,12:F3}"))}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"total",6}{string.Concat(sides.Select(s => $"{s.TotalSeconds,12:F3}"))}"));
        Console.WriteLine($"  trained responses (priority + compensation): {string.Join(", ", sides.Select((s, i) => $"{labels[i][..^2]} {s.PriorityResponses} + {s.CompensationResponses}"))}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  actors vs loop            {r.OverheadPercent,+8:+0.0;-0.0}%   (target <= +3%)          {(r.OverheadPercent <= 3 ? "met" : "MISSED")}"));
        if (r.AsyncActors is not null)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  actors lag {r.AsyncLag} vs loop      {r.AsyncOverheadPercent,+8:+0.0;-0.0}%   (target < 0: faster)     {(r.AsyncOverheadPercent < 0 ? "met" : "MISSED")}"));
            Console.WriteLine($"  policy lag (lag {r.AsyncLag} run)  {string.Join(" ", r.AsyncActors.Steps.Select(s => s.PolicyLag))}");
        }
        Console.WriteLine(r.MetricsMatch
            ? $"  per-step metrics          actors (lag 0) = loop on all {r.Loop.Steps.Count} steps ({r.ComparedKeys.Count} metrics.jsonl keys, exact)"
            : $"  per-step metrics          actors (lag 0) DIFFER from the loop in {r.Mismatches.Count} figures: {string.Join("; ", r.Mismatches.Take(5))}{(r.Mismatches.Count > 5 ? "; ..." : "")}");
        var figures = new Dictionary<string, object>
        {
            ["task"] = r.Task,
            ["steps"] = r.Loop.Steps.Count,
            ["prompts_per_step"] = r.PromptsPerStep,
            ["samples_per_prompt"] = r.SamplesPerPrompt,
            ["warm_start"] = r.WarmStart,
            ["loop_step_s"] = r.Loop.Steps.Select(s => s.Seconds).ToList(),
            ["actors_step_s"] = r.Actors.Steps.Select(s => s.Seconds).ToList(),
            ["loop_mean_s"] = r.Loop.MeanSeconds,
            ["actors_mean_s"] = r.Actors.MeanSeconds,
            ["loop_total_s"] = r.Loop.TotalSeconds,
            ["actors_total_s"] = r.Actors.TotalSeconds,
            ["loop_priority_responses"] = r.Loop.PriorityResponses,
            ["loop_compensation_responses"] = r.Loop.CompensationResponses,
            ["actors_priority_responses"] = r.Actors.PriorityResponses,
            ["actors_compensation_responses"] = r.Actors.CompensationResponses,
            ["overhead_percent"] = r.OverheadPercent,
            ["metrics_match"] = r.MetricsMatch,
            ["compared_keys"] = r.ComparedKeys,
            ["mismatches"] = r.Mismatches,
        };
        if (r.AsyncActors is { } async)
        {
            figures["async_max_policy_lag"] = r.AsyncLag;
            figures["async_step_s"] = async.Steps.Select(s => s.Seconds).ToList();
            figures["async_mean_s"] = async.MeanSeconds;
            figures["async_total_s"] = async.TotalSeconds;
            figures["async_overhead_percent"] = r.AsyncOverheadPercent;
            figures["async_policy_lag"] = async.Steps.Select(s => s.PolicyLag).ToList();
            figures["async_priority_responses"] = async.PriorityResponses;
            figures["async_compensation_responses"] = async.CompensationResponses;
        }
        WriteJson(json, figures);
        if (workDir == null) Directory.Delete(dir, recursive: true);
        return r.MetricsMatch ? 0 : 1;
    }

    private static int Weights(int mb, int repeat, int chunkKb, int fetchers, int linkMbPerS, int fanOut, string? json)
    {
        if ((long)mb * 1024 * 1024 > Array.MaxLength) return Fail($"--mb {mb}: a blob holds at most {Array.MaxLength / (1024 * 1024)} MiB");
        var chunkBytes = (long)chunkKb * 1024;
        if (chunkBytes is < WeightServerOptions.MinChunkBytes or > WeightServerOptions.MaxChunkBytes)
            return Fail($"--chunk-kb {chunkKb}: expected {WeightServerOptions.MinChunkBytes / 1024} to {WeightServerOptions.MaxChunkBytes / 1024}");
        if (fanOut < 0) return Fail($"--fan-out {fanOut}: expected 0 (no relays) or more");
        Console.WriteLine($"bench weights: {mb} MiB blob, {repeat} verified fetches over loopback, {chunkKb} KiB chunks ...");
        var r = WeightsBenchmark.Run((long)mb * 1024 * 1024, repeat, new WeightServerOptions { ChunkBytes = (int)chunkBytes }, progress: line => Console.WriteLine($"  {line}"));
        Console.WriteLine($"  checksum         {r.Checksum}");
        Console.WriteLine($"  per fetch        {string.Join(", ", r.GbPerSecond.Select(g => $"{g * 1000:N0} MB/s"))}");
        Console.WriteLine($"  median           {r.MedianGbPerSecond,8:N2} GB/s   (target >= 2.5 GB/s verified; DESIGN.md floor 1)  {(r.MedianGbPerSecond >= 2.5 ? "met" : "MISSED")}");
        Console.WriteLine($"  best             {r.BestGbPerSecond,8:N2} GB/s");
        var figures = new Dictionary<string, object>
        {
            ["blob_mb"] = mb,
            ["blob_bytes"] = r.BlobBytes,
            ["chunk_bytes"] = r.ChunkBytes,
            ["checksum"] = r.Checksum,
            ["repeat"] = repeat,
            ["publish_s"] = r.PublishSeconds,
            ["fetch_s"] = r.FetchSeconds,
            ["weights_gb_per_s"] = r.MedianGbPerSecond,
            ["weights_best_gb_per_s"] = r.BestGbPerSecond,
            ["single_fetch_gb_per_s"] = r.MedianGbPerSecond,
        };
        if (fetchers > 1)
        {
            GC.Collect();
            Console.WriteLine($"bench weights: {fetchers} fetchers, fan-out {fanOut}, every node's upload capped at {linkMbPerS} MB/s ...");
            var f = WeightsBenchmark.RunFanOut(
                (long)mb * 1024 * 1024, fetchers, fanOut, linkMbPerS * 1_000_000L, (int)chunkBytes, line => Console.WriteLine($"  {line}"));
            Console.WriteLine($"  learner upload   {f.LearnerUploadCopies,8:N2} copies per version  (target <= 2)    {(f.LearnerUploadCopies <= 2 ? "met" : "MISSED")}");
            Console.WriteLine($"  all vs one fetch {f.AllFetchRatio,8:N2} x  ({f.AllFetchSeconds:N2} s vs {f.SingleFetchSeconds:N2} s; target <= 1.5)  {(f.AllFetchRatio <= 1.5 ? "met" : "MISSED")}");
            Console.WriteLine($"  cpu while all    {f.AllFetchCpuSeconds,8:N1} s on {Environment.ProcessorCount} cores ({f.AllFetchCpuSeconds / f.AllFetchSeconds / Environment.ProcessorCount:P0} busy: near 100% = bound by this machine, not by the links)");
            figures["fetchers"] = f.Fetchers;
            figures["all_fetch_cpu_s"] = f.AllFetchCpuSeconds;
            figures["cores"] = Environment.ProcessorCount;
            figures["fan_out"] = f.FanOut;
            figures["link_mb_per_s"] = linkMbPerS;
            figures["single_capped_fetch_s"] = f.SingleFetchSeconds;
            figures["all_fetch_s"] = f.AllFetchSeconds;
            figures["fetcher_s"] = f.FetcherSeconds;
            figures["learner_bytes_uploaded"] = f.LearnerBytesUploaded;
            figures["learner_upload_copies"] = f.LearnerUploadCopies;
            figures["all_fetch_ratio"] = f.AllFetchRatio;
        }
        figures["load_average"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "unknown";
        WriteJson(json, figures);
        return 0;
    }

    /// <summary>Writes a benchmark's figures to --json FILE, when given.</summary>
    private static void WriteJson(string? path, Dictionary<string, object> figures)
    {
        if (path != null) File.WriteAllText(path, JsonSerializer.Serialize(figures, new JsonSerializerOptions { WriteIndented = true }));
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"bench: {message}");
        return CliKit.UsageError;
    }
}
