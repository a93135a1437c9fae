using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using RoRecomp.Actors.Hosting;
using RoRecomp.Actors.Persistence;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.Runners;
using RoRecomp.Actors.Serialization;
using RoRecomp.Settings;
using RoRecomp.Training;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Steps;

namespace RoRecomp.Actors.Bench;

/// <summary>What <see cref="CoordinationBenchmark.RunAsync"/> runs.</summary>
/// <param name="Samplers">Sampler counts to measure, one cluster each (e.g. 1, 4, 16, 64, 256).</param>
/// <param name="Processes">Sampler processes (at most one per sampler).</param>
/// <param name="GenerationMs">Wall milliseconds a stand-in sampler takes per lease.</param>
/// <param name="UpdateMs">Wall milliseconds the stand-in learner takes per step.</param>
/// <param name="ResponseTokens">Tokens per response.</param>
/// <param name="Steps">Measured steps per sampler count (after the warm-up steps).</param>
/// <param name="Lag"><c>async.max-policy-lag</c>.</param>
/// <param name="SamplesPerPrompt">Responses per group.</param>
/// <param name="WorkerDll">The <c>rorecomp.dll</c> the sampler processes run (<c>bench coordination --worker</c>).</param>
/// <param name="Settings">Layers under the bench's own keys (<c>--config</c>, <c>--set</c>).</param>
/// <param name="WarmupSteps">
/// Steps before the measured ones, not timed: the first steps of a cluster run JIT-compiled code at tier 0 and fill
/// connection pools (measured here at 64 samplers / 4 processes: 1.85 ms per group over 5 steps after 1 warm-up step,
/// 0.83 over 40). Tiered compilation goes on recompiling hot code for tens of seconds in every process: after 5
/// warm-up steps, perf found 63% of the 2 cores in the 5 processes' tiered-compilation threads during the measured
/// window, and the figures were 3.38 ms per group at 64 samplers; after 60, 0.70 ms (2026-12-01).
/// </param>
public sealed record CoordinationBenchOptions(
    IReadOnlyList<int> Samplers, int Processes, int GenerationMs, int UpdateMs, int ResponseTokens, int Steps, int Lag, int SamplesPerPrompt,
    string WorkerDll, SettingsOverrides Settings, int WarmupSteps = 1);

/// <summary>One measured sampler count.</summary>
/// <param name="Samplers">Samplers.</param>
/// <param name="Processes">Sampler processes.</param>
/// <param name="GroupsPerStep">Groups of a step's online batch (one lease of one prompt per sampler).</param>
/// <param name="Steps">Measured steps.</param>
/// <param name="WallSeconds">From the learner finishing the warm-up step to it finishing the last measured one.</param>
/// <param name="GroupsPerSecond">Groups trained per second in that window.</param>
/// <param name="IdealStepSeconds">A step's wall time with free coordination: generation + update (lag 0), else the larger of the two.</param>
/// <param name="OverheadMsPerGroup">(wall - steps x ideal) / groups: the time not explained by generation and update.</param>
/// <param name="LearnerIdleFraction">Share of the window the learner was not on a step.</param>
/// <param name="LearnerIdleForCoordination">That share less the idle time generation explains (lag 0: the generation; else generation beyond the update).</param>
/// <param name="RemoteBytes">RoRecomp message bytes deserialized by every process of the cluster over the whole run.</param>
/// <param name="TrainedSteps">Steps the learner finished in the run (warm-up and measured; the denominator of <see cref="BytesPerStep"/>).</param>
/// <param name="PayloadBytesPerStep">Token ids and log-probs of one step's responses (4 + 4 bytes a token).</param>
/// <param name="LearnerBufferSeconds">Mean seconds a measured step's learner waited for the replay buffer (inside its busy time).</param>
/// <param name="WindowResponses">Responses in the online batches of the measured steps (every group accounted for: steps x groups x samples).</param>
/// <param name="CpuSeconds">CPU seconds per process over the measured window: the learner node first, then each sampler process.</param>
/// <param name="LearnerJitSeconds">
/// Seconds the learner node's JIT compiled over the measured window (<see cref="System.Runtime.JitInfo.GetCompilationTime"/>):
/// near 0 when the window is the steady state, large while tiered compilation still recompiles hot code.
/// </param>
public sealed record CoordinationPoint(
    int Samplers, int Processes, int GroupsPerStep, int Steps, double WallSeconds, double GroupsPerSecond, double IdealStepSeconds,
    double OverheadMsPerGroup, double LearnerIdleFraction, double LearnerIdleForCoordination, long RemoteBytes, int TrainedSteps,
    long PayloadBytesPerStep, double LearnerBufferSeconds, int WindowResponses, IReadOnlyList<double> CpuSeconds, double LearnerJitSeconds)
{
    /// <summary>Remote bytes per trained step (join and shutdown traffic included).</summary>
    public long BytesPerStep => TrainedSteps == 0 ? 0 : RemoteBytes / TrainedSteps;
}

/// <summary>The measured sampler counts, and the ceiling they show.</summary>
/// <param name="Options">What ran.</param>
/// <param name="Points">One per sampler count, ascending.</param>
/// <param name="CeilingSamplers">The fewest samplers reaching 90% of the best groups/s.</param>
/// <param name="CeilingGroupsPerSecond">The best groups/s measured.</param>
/// <param name="CeilingReached">Whether more samplers than <see cref="CeilingSamplers"/> were measured and added less than 10%.</param>
/// <param name="Limit">What limits the ceiling point, from its figures.</param>
public sealed record CoordinationBenchResult(
    CoordinationBenchOptions Options, IReadOnlyList<CoordinationPoint> Points, int CeilingSamplers, double CeilingGroupsPerSecond, bool CeilingReached, string Limit);

/// <summary>
/// Coordination benchmark (issue 13): for each sampler count, a real cluster on 127.0.0.1 — this process is the learner
/// node (roles learner, buffer, verifier: the real run coordinator, recomposer, replay buffer with its SQLite journal,
/// verifier, policy publisher and evaluator) and <see cref="CoordinationBenchOptions.Processes"/> sampler processes
/// (<c>bench coordination --worker</c>: roles sampler, verifier) — where only the model-backed actors are stand-ins
/// (<see cref="SimulatedSamplerActor"/>, <see cref="SimulatedLearnerActor"/>, through <see cref="PipelineStandIns"/>).
/// Every step holds one single-prompt lease per sampler. The run waits until every sampler has asked the coordinator for
/// work, then runs one warm-up step and the measured steps, timed on the learner's clock.
/// </summary>
public static class CoordinationBenchmark
{
    /// <summary>The line a worker prints when it stops: its deserialized bytes.</summary>
    public const string WorkerReport = "bench coordination worker:";

    /// <summary>The most samplers one process runs (the upper bound of <c>rorecomp.sampling.samplers</c>).</summary>
    public const int MaxSamplersPerProcess = 64;

    /// <summary>Runs every sampler count in <paramref name="workDir"/> (one run directory each).</summary>
    public static async Task<CoordinationBenchResult> RunAsync(CoordinationBenchOptions o, string workDir, TextWriter log, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(o.Steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(o.Processes, 1);
        if (o.Samplers.Count == 0 || o.Samplers.Any(n => n < 1)) throw new ArgumentException("sampler counts must be >= 1", nameof(o));
        if (o.Samplers.Max() is var most && (most + o.Processes - 1) / o.Processes > MaxSamplersPerProcess)
        {
            throw new SettingsException($"{most} samplers over {o.Processes} processes is more than {MaxSamplersPerProcess} a process " +
                $"(rorecomp.sampling.samplers allows 1-{MaxSamplersPerProcess}): give --processes {(most + MaxSamplersPerProcess - 1) / MaxSamplersPerProcess} or more");
        }
        if (!File.Exists(o.WorkerDll)) throw new FileNotFoundException($"the worker program {o.WorkerDll} is missing", o.WorkerDll);
        var points = new List<CoordinationPoint>();
        foreach (var n in o.Samplers.Distinct().Order())
        {
            cancellationToken.ThrowIfCancellationRequested();
            var p = await RunPointAsync(o, n, Path.Combine(workDir, $"samplers-{n}"), log, cancellationToken);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"bench coordination: {n} samplers / {p.Processes} processes: {p.GroupsPerSecond:F1} groups/s, overhead {p.OverheadMsPerGroup:F2} ms/group, " +
                $"learner idle {p.LearnerIdleFraction:P1} ({p.LearnerIdleForCoordination:P1} for coordination), learner waits {p.LearnerBufferSeconds * 1000:F0} ms a step for the buffer, " +
                $"{p.BytesPerStep / 1e6:F2} MB/step remote, learner node JIT {p.LearnerJitSeconds:F2} s in the window"));
            points.Add(p);
        }
        var best = points.Max(p => p.GroupsPerSecond);
        var ceiling = points.First(p => p.GroupsPerSecond >= 0.9 * best);
        var reached = points.Any(p => p.Samplers > ceiling.Samplers);
        return new CoordinationBenchResult(o, points, ceiling.Samplers, best, reached, Limit(ceiling, o, reached));
    }

    /// <summary>What the ceiling point's figures say limits it.</summary>
    private static string Limit(CoordinationPoint p, CoordinationBenchOptions o, bool reached)
    {
        var wall = p.WallSeconds;
        var cores = Environment.ProcessorCount;
        var total = p.CpuSeconds.Sum();
        var learnerShare = p.CpuSeconds[0] / Math.Max(1e-9, wall);
        var totalShare = total / Math.Max(1e-9, wall);
        var cpu = string.Create(CultureInfo.InvariantCulture,
            $"CPU in the measured window: learner node {learnerShare:F2} cores, all processes {totalShare:F2} of {cores} cores");
        if (!reached) return $"not reached: groups/s still grew up to {p.Samplers} samplers, the most measured ({cpu})";
        if (p.LearnerIdleForCoordination < 0.05 && p.LearnerBufferSeconds * 1000 > 0.5 * o.UpdateMs)
            return string.Create(CultureInfo.InvariantCulture, $"the replay buffer: the learner waited {p.LearnerBufferSeconds * 1000:F0} ms a step for it beside its {o.UpdateMs} ms update ({cpu})");
        if (p.LearnerIdleForCoordination < 0.05) return $"the learner's update time ({o.UpdateMs} ms a step): it was busy ({cpu})";
        if (totalShare >= 0.8 * cores) return $"the machine's {cores} cores, saturated by the cluster's processes ({cpu})";
        if (learnerShare >= 0.8) return $"the learner node's actors (coordinator, recomposer, verifier, buffer: one core's worth) ({cpu})";
        return $"coordination latency (the learner waited {p.LearnerIdleForCoordination:P0} of the time with CPU to spare) ({cpu})";
    }

    private static async Task<CoordinationPoint> RunPointAsync(CoordinationBenchOptions o, int samplers, string runDir, TextWriter log, CancellationToken cancellationToken)
    {
        var processes = Math.Min(o.Processes, samplers);
        var groupsPerStep = samplers;
        var totalSteps = o.WarmupSteps + o.Steps + 1;   // warm-up, measured, and a last step that is never reported (its evaluation needs a model)
        var sets = new List<string>(o.Settings.Sets ?? [])
        {
            $"rorecomp.run.prompts-per-step={groupsPerStep}",
            "rorecomp.run.lease-size=1",
            $"rorecomp.run.samples-per-prompt={o.SamplesPerPrompt}",
            "rorecomp.run.eval-every=0",
            "rorecomp.run.tensorboard=false",
            $"rorecomp.async.max-policy-lag={o.Lag}",
        };
        var port = FreePort();
        var seed = TrainRunner.SeedAddress("127.0.0.1", port);
        var layers = o.Settings with
        {
            Sets = sets,
            Steps = totalSteps,
            RunDir = runDir,
            Hostname = "127.0.0.1",
            Port = port,
            SeedNodes = [seed],
            Roles = [RoRecompHostingExtensions.LearnerRole, RoRecompHostingExtensions.BufferRole, RoRecompHostingExtensions.VerifierRole],
        };
        var loaded = SettingsLoader.Resolve(layers);
        var settings = loaded.Settings;
        Directory.CreateDirectory(runDir);
        var (hocon, runLock) = PersistenceHocon.Prepare(settings.Persistence, runDir);
        using var _ = runLock;
        settings = PersistenceHocon.SettleRunId(settings, runDir, fresh: true);
        var context = new RunContext(settings with { Run = settings.Run with { RunDir = runDir } }, totalSteps, "", null);
        var probe = new LearnerProbe();
        var reporter = new Reporter();
        var bytesBefore = RoRecompSerializer.BytesRead;
        var node = await RoRecompNode.StartAsync(
            b => b.AddRoRecompActors(context.Settings, loaded.Akka.WithFallback(hocon))
                .AddRoRecompPipeline(context, reporter, new PipelineStandIns(Learner: SimulatedLearnerActor.Factory(o.UpdateMs, probe))),
            cancellationToken);
        var workers = new List<Worker>();
        try
        {
            await using var __ = node;
            for (var i = 0; i < processes; i++)
            {
                var count = (samplers / processes) + (i < samplers % processes ? 1 : 0);
                var workerSets = sets.Concat([$"rorecomp.sampling.samplers={count}", $"rorecomp.run.run-dir={Path.Combine(runDir, $"worker-{i}")}"]);
                workers.Add(Worker.Start(o, seed, workerSets));
            }
            log.WriteLine($"bench coordination: {samplers} samplers in {processes} processes joining {seed} ...");
            var coordinator = node.Registry.Get<RunCoordinatorKey>();
            var joinDeadline = Stopwatch.StartNew();
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (workers.FirstOrDefault(w => w.HasExited) is { } dead) throw new InvalidOperationException($"a sampler process exited early: {dead.Output}");
                if (reporter.Failure is { } failure) throw new InvalidOperationException($"the run failed: {failure}");
                if (joinDeadline.Elapsed > TimeSpan.FromSeconds(300)) throw new TimeoutException($"not every sampler joined within 300 s: {workers[0].Output}");
                try
                {
                    var status = await coordinator.Ask<RunStatus>(GetRunStatus.Instance, TimeSpan.FromSeconds(5), cancellationToken);
                    if (status.IdleSamplers >= samplers) break;
                }
                catch (AskTimeoutException)
                {
                    // the singleton is still coming up
                }
                await Task.Delay(200, cancellationToken);
            }
            log.WriteLine($"bench coordination: {samplers} samplers joined in {joinDeadline.Elapsed.TotalSeconds:F1} s; running {o.Steps} measured steps");
            probe.Open();
            var waves = (int)Math.Ceiling(Math.Ceiling(groupsPerStep / (double)settings.Run.LeaseSize) / samplers);
            var generation = waves * o.GenerationMs / 1000.0;
            var update = o.UpdateMs / 1000.0;
            var ideal = o.Lag == 0 ? generation + update : Math.Max(generation, update);
            var trainedAtEnd = o.WarmupSteps + o.Steps;
            var deadline = TimeSpan.FromSeconds(120 + trainedAtEnd * Math.Max(20 * ideal, 5));
            var run = Stopwatch.StartNew();
            Clocks? atWarmup = null;
            while (probe.Intervals.Count < trainedAtEnd)
            {
                // CPU of every process (20 ms resolution) and the learner node's JIT time, from the end of the last warm-up
                // step to the end of the window.
                if (atWarmup is null && probe.Intervals.Count >= o.WarmupSteps) atWarmup = Clocks.Read(workers);
                cancellationToken.ThrowIfCancellationRequested();
                if (reporter.Failure is { } failure) throw new InvalidOperationException($"the run failed: {failure}");
                if (workers.FirstOrDefault(w => w.HasExited) is { } dead) throw new InvalidOperationException($"a sampler process exited early: {dead.Output}");
                if (run.Elapsed > deadline) throw new TimeoutException($"{probe.Intervals.Count} of {trainedAtEnd} steps trained within {deadline.TotalSeconds:F0} s");
                await Task.Delay(20, cancellationToken);
            }
            var intervals = probe.Intervals.OrderBy(i => i.Step).ToList();
            var window = intervals.Skip(o.WarmupSteps - 1).Take(o.Steps + 1).ToList();   // the last warm-up step's end starts the clock
            var wall = Stopwatch.GetElapsedTime(window[0].End, window[^1].End).TotalSeconds;
            var busy = window.Skip(1).Sum(i => Stopwatch.GetElapsedTime(i.Start, i.End).TotalSeconds);
            var groups = o.Steps * groupsPerStep;
            var responses = window.Skip(1).Sum(i => i.Responses);
            if (window.Any(i => i.Responses != groupsPerStep * o.SamplesPerPrompt))
            {
                throw new InvalidOperationException($"a step reached the learner without all its groups: responses per step " +
                    $"{string.Join(", ", window.Select(i => i.Responses))}, expected {groupsPerStep * o.SamplesPerPrompt}");
            }
            var idle = Math.Max(0, 1 - (busy / wall));
            var explainedIdle = o.Lag == 0 ? generation : Math.Max(0, generation - update);
            var idleForCoordination = Math.Max(0, idle - (o.Steps * explainedIdle / wall));

            var atEnd = Clocks.Read(workers);
            atWarmup ??= atEnd;
            var cpu = atEnd.Cpu.Zip(atWarmup.Cpu, (end, start) => (end - start).TotalSeconds).ToList();
            var trained = probe.Intervals.Count;
            var driverBytes = RoRecompSerializer.BytesRead - bytesBefore;
            long workerBytes = 0;
            foreach (var w in workers) workerBytes += await w.StopAsync();
            return new CoordinationPoint(
                samplers, processes, groupsPerStep, o.Steps, wall, groups / wall, ideal, (wall - (o.Steps * ideal)) / groups * 1000, idle,
                idleForCoordination, driverBytes + workerBytes, trained, (long)groupsPerStep * o.SamplesPerPrompt * o.ResponseTokens * 8, window.Skip(1).Average(i => i.BufferSeconds), responses, cpu,
                (atEnd.LearnerJit - atWarmup.LearnerJit).TotalSeconds);
        }
        finally
        {
            foreach (var w in workers) w.Dispose();
        }
    }

    /// <summary>
    /// The sampler process (<c>bench coordination --worker</c>): joins <paramref name="layers"/>' seed with roles sampler
    /// and verifier and stand-in samplers, until <paramref name="stop"/> completes; then prints <see cref="WorkerReport"/>
    /// with its deserialized bytes, and leaves.
    /// </summary>
    public static async Task RunWorkerAsync(SettingsOverrides layers, SimulatedSampling sim, Task stop, TextWriter output)
    {
        layers = layers with { Roles = [RoRecompHostingExtensions.SamplerRole, RoRecompHostingExtensions.VerifierRole], Hostname = "127.0.0.1" };
        var loaded = SettingsLoader.Resolve(layers);
        var settings = loaded.Settings;
        var hocon = loaded.Akka.WithFallback(PersistenceHocon.Build(settings.Persistence, Path.GetFullPath(settings.Run.RunDir)));
        var context = RunContext.ForWorker(settings);
        var bytesBefore = RoRecompSerializer.BytesRead;
        await using (var node = await RoRecompNode.StartAsync(b => b.AddRoRecompActors(settings, hocon)
            .AddRoRecompPipeline(context, null, new PipelineStandIns(Sampler: SimulatedSamplerActor.Factory(sim)))))
        {
            output.WriteLine($"bench coordination worker {Akka.Cluster.Cluster.Get(node.System).SelfAddress}: {settings.Sampling.Samplers} samplers");
            await Task.WhenAny(stop, node.System.WhenTerminated);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{WorkerReport} bytes {RoRecompSerializer.BytesRead - bytesBefore}"));
            output.Flush();
        }
    }

    /// <summary>CPU time of the learner node then of each sampler process, and the learner node's JIT time, at one moment.</summary>
    private sealed record Clocks(List<TimeSpan> Cpu, TimeSpan LearnerJit)
    {
        public static Clocks Read(List<Worker> workers) => new(
            [Process.GetCurrentProcess().TotalProcessorTime, .. workers.Select(w => w.CpuTime)],
            System.Runtime.JitInfo.GetCompilationTime(currentThread: false));
    }

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Records a failure; the bench reads the learner's probe for progress.</summary>
    private sealed class Reporter : IRunReporter
    {
        private volatile string? _failure;

        public string? Failure => _failure;

        public void Started(RunStart start)
        {
        }

        public void Baseline(HeldOutEvaluation evaluation)
        {
        }

        public void StepCompleted(StepRecord record)
        {
        }

        public void Notice(string message)
        {
        }

        public void Finished()
        {
        }

        public void Failed(string reason) => _failure = reason;
    }

    /// <summary>A sampler process; stopped by closing its standard input.</summary>
    private sealed class Worker : IDisposable
    {
        private readonly Process _process;
        private readonly System.Text.StringBuilder _output = new();
        private readonly TaskCompletionSource<string> _report = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private Worker(Process process)
        {
            _process = process;
            _process.OutputDataReceived += (_, e) => Append(e.Data);
            _process.ErrorDataReceived += (_, e) => Append(e.Data);
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public bool HasExited => _process.HasExited;

        public TimeSpan CpuTime
        {
            get
            {
                _process.Refresh();
                return _process.HasExited ? TimeSpan.Zero : _process.TotalProcessorTime;
            }
        }

        public string Output
        {
            get
            {
                lock (_output) return _output.ToString();
            }
        }

        public static Worker Start(CoordinationBenchOptions o, string seed, IEnumerable<string> sets)
        {
            var psi = new ProcessStartInfo("dotnet")
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            psi.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
            foreach (var a in new[]
            {
                o.WorkerDll, "bench", "coordination", "--worker", "--seed", seed,
                "--generation-ms", o.GenerationMs.ToString(CultureInfo.InvariantCulture),
                "--response-tokens", o.ResponseTokens.ToString(CultureInfo.InvariantCulture),
            })
            {
                psi.ArgumentList.Add(a);
            }
            if (o.Settings.ConfigFile is { } config)
            {
                psi.ArgumentList.Add("--config");
                psi.ArgumentList.Add(Path.GetFullPath(config));
            }
            foreach (var s in sets)
            {
                psi.ArgumentList.Add("--set");
                psi.ArgumentList.Add(s);
            }
            return new Worker(Process.Start(psi) ?? throw new InvalidOperationException("could not start a sampler process"));
        }

        /// <summary>Closes its input, and reads the bytes it reports as it stops.</summary>
        public async Task<long> StopAsync()
        {
            _process.StandardInput.Close();
            var report = await _report.Task.WaitAsync(TimeSpan.FromSeconds(60));
            var parts = report.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return long.Parse(parts[Array.IndexOf(parts, "bytes") + 1], CultureInfo.InvariantCulture);
        }

        public void Dispose()
        {
            try
            {
                if (!_process.WaitForExit(TimeSpan.FromSeconds(10)) && !_process.HasExited) _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
            _process.Dispose();
        }

        private void Append(string? line)
        {
            if (line is null) return;
            lock (_output) _output.AppendLine(line);
            if (line.StartsWith(WorkerReport, StringComparison.Ordinal)) _report.TrySetResult(line);
        }
    }
}
