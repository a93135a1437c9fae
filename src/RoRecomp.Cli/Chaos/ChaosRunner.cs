using System.Diagnostics;
using System.Globalization;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Runners;
using RoRecomp.Cli.Processes;
using RoRecomp.Training;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Steps;

namespace RoRecomp.Cli.Chaos;

/// <summary>What <c>rorecomp chaos</c> was asked to do.</summary>
/// <param name="Faults">Faults to inject into the disturbed run.</param>
/// <param name="Seed">Seed of the fault plan, the run (<c>run.seed</c>) and the random warm start.</param>
/// <param name="OutDir">Where the runs, logs and <c>chaos.log</c> go (must not hold an earlier chaos run).</param>
public sealed record ChaosOptions(int Faults, int Seed, string OutDir)
{
    /// <summary>sqlite (a file in each run directory) or postgresql (a server of the harness's own, restarted by <c>db</c> faults).</summary>
    public string Journal { get; init; } = "sqlite";

    /// <summary><c>async.max-policy-lag</c>: 0 makes the run deterministic and the undisturbed run its oracle.</summary>
    public int MaxPolicyLag { get; init; }

    /// <summary>Sampler nodes (>= 3).</summary>
    public int Samplers { get; init; } = 3;

    /// <summary>Steps of both runs; null = max(24, 2 x faults).</summary>
    public int? Steps { get; init; }

    /// <summary>More <c>--set key=value</c> layers for every run and node.</summary>
    public IReadOnlyList<string> Sets { get; init; } = [];

    /// <summary><c>metrics.jsonl</c> keys whose differences are reported but do not fail the run.</summary>
    public IReadOnlyList<string> IgnoreKeys { get; init; } = [];

    /// <summary>Restrict the catalogue to these kinds (<see cref="FaultPlan.Name"/>s; empty: every kind that applies).</summary>
    public IReadOnlyList<string> Kinds { get; init; } = [];

    /// <summary>The disturbed run fails as hung when no step completes for this long.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromMinutes(3);

    /// <summary>The steps the runs take.</summary>
    public int StepCount => Steps ?? Math.Max(24, 2 * Faults);
}

/// <summary>The result of a chaos run: the fault counts, the oracle's verdict, and the one summary line.</summary>
/// <param name="Counts">Faults injected by kind name (every kind of the catalogue, zeros included).</param>
/// <param name="Steps">The run's steps.</param>
/// <param name="Verdict">The oracle's verdict.</param>
/// <param name="Failures">What went wrong outside the oracle (a hang, a node exiting by itself, a run that failed).</param>
/// <param name="WallSeconds">Wall time of the whole command.</param>
public sealed record ChaosResult(IReadOnlyDictionary<string, int> Counts, int Steps, OracleVerdict? Verdict, IReadOnlyList<string> Failures, double WallSeconds)
{
    /// <summary>No difference, nothing lost or duplicated, no failure.</summary>
    public bool Ok => Failures.Count == 0 && Verdict is { ResponsesLost: 0, Duplicates: 0 } v && v.Equal != false && v.StepsDone == Steps &&
        v.Differences.All(d => d.EndsWith("(ignored: --ignore-key)", StringComparison.Ordinal));

    /// <summary>
    /// <c>chaos: faults N (kill-sampler a, ...), steps S/S, equal to undisturbed: yes|no|n/a (lag L), responses lost 0, duplicates 0, wall T s</c>.
    /// </summary>
    public string Line()
    {
        var v = Verdict;
        var equal = v is null ? "no (the runs did not finish)" : v.Equal switch { true => "yes", false => "no", null => "n/a (max-policy-lag > 0: no prompt lost or counted twice, lag bound checked)" };
        return string.Create(CultureInfo.InvariantCulture,
            $"chaos: faults {Counts.Values.Sum()} ({string.Join(", ", Counts.Select(c => $"{c.Key} {c.Value}"))}), steps {v?.StepsDone ?? 0}/{Steps}, " +
            $"equal to undisturbed: {equal}, responses lost {v?.ResponsesLost ?? 0}, duplicates {v?.Duplicates ?? 0}, wall {WallSeconds:F0} s");
    }
}

/// <summary>
/// The chaos harness (<c>rorecomp chaos</c>): an undisturbed reference run (<c>max-policy-lag = 0</c> only), then the
/// same run as a real cluster of separate processes on 127.0.0.1 (the learner side <c>train --cluster</c>, sampler nodes,
/// a verifier node) into which a seeded plan of faults (<see cref="FaultPlan"/>) is injected, each logged with its time
/// and kind to <c>&lt;out&gt;/chaos.log</c>; then <see cref="ChaosOracle"/> judges the disturbed run against the reference.
/// Bounded: the runs have a fixed number of steps, and a run with no step for <see cref="ChaosOptions.StallTimeout"/> is
/// stopped and reported as hung.
/// </summary>
public sealed class ChaosRunner
{
    /// <summary>
    /// What a learner side prints when it stops resumably for a full disk or an unreachable journal (the journal's and the
    /// run files' messages), or refuses to start on a full run directory.
    /// </summary>
    private static readonly string[] ResumableStopMarkers = ["with --resume", "is not writable (No space left on device"];

    /// <summary><c>run.lease-timeout</c> of the chaos runs (s): short, so a stopped sampler's lease is re-issued within a step or two.</summary>
    public const int LeaseTimeoutSeconds = 5;

    /// <summary><c>cluster.stable-after</c> of the chaos runs (s).</summary>
    public const int StableAfterSeconds = 5;

    private const int PromptsPerStep = 4, SamplesPerPrompt = 4;

    private readonly ChaosOptions _o;
    private readonly TextWriter _out;
    private readonly string _outDir;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<string> _failures = [];
    private readonly Dictionary<string, int> _counts = [];
    private StreamWriter? _log;

    private ChaosRunner(ChaosOptions o, TextWriter output)
    {
        _o = o;
        _out = output;
        _outDir = Path.GetFullPath(o.OutDir);
    }

    /// <summary>Runs the harness; throws <see cref="ArgumentException"/> for bad options.</summary>
    public static Task<ChaosResult> RunAsync(ChaosOptions o, TextWriter output, CancellationToken cancellationToken) =>
        new ChaosRunner(o, output).RunAsync(cancellationToken);

    /// <summary>The settings of both runs (and every node), as <c>--set</c> pairs.</summary>
    public static List<string> RunSets(string runDir, string warmStart, ChaosOptions o, string? connectionString, string runId) =>
    [
        $"run.run-dir={runDir}",
        $"run.seed={o.Seed.ToString(CultureInfo.InvariantCulture)}",
        $"run.prompts-per-step={PromptsPerStep}",
        $"run.samples-per-prompt={SamplesPerPrompt}",
        "run.lease-size=1",
        "run.eval-every=0",
        "run.tensorboard=false",
        $"run.lease-timeout={LeaseTimeoutSeconds}",
        "sampling.max-new-tokens=24",
        "compensation.batch-size=6",
        "checkpoint.every=3",
        "policy-loss.lr=1e-3",
        $"cluster.stable-after={StableAfterSeconds}",
        $"async.max-policy-lag={o.MaxPolicyLag.ToString(CultureInfo.InvariantCulture)}",
        $"model.checkpoint={warmStart}",
        .. connectionString is null ? Array.Empty<string>() :
            ["persistence.provider=postgresql", $"persistence.connection-string={connectionString}", $"persistence.run-id={runId}"],
        .. o.Sets,
    ];

    private async Task<ChaosResult> RunAsync(CancellationToken ct)
    {
        if (_o.Faults < 1) throw new ArgumentException("--faults must be >= 1");
        if (_o.Samplers < 3) throw new ArgumentException("--samplers must be >= 3 (the harness kills and stops them while the others work)");
        if (_o.Journal is not ("sqlite" or "postgresql")) throw new ArgumentException($"--journal {_o.Journal}: expected sqlite or postgresql");
        if (_o.MaxPolicyLag < 0) throw new ArgumentException("--max-policy-lag must be >= 0");
        var steps = _o.StepCount;
        if (steps < 6) throw new ArgumentException("--steps must be >= 6");
        foreach (var d in new[] { "reference", "disturbed" })
        {
            if (Directory.Exists(Path.Combine(_outDir, d)) && Directory.EnumerateFileSystemEntries(Path.Combine(_outDir, d)).Any())
                throw new ArgumentException($"{Path.Combine(_outDir, d)} already holds a run: choose another --out");
        }
        var only = new List<FaultKind>();
        foreach (var k in _o.Kinds)
        {
            var kind = FaultPlan.Parse(k) ?? throw new ArgumentException(
                $"--kind {k}: expected one of {string.Join(", ", Enum.GetValues<FaultKind>().Select(FaultPlan.Name))}");
            if (FaultPlan.Catalogue(_o.Journal).All(c => c.Kind != kind)) throw new ArgumentException($"--kind {k} needs --journal postgresql");
            if (FaultPlan.NeedsRoot(kind) && !HostCommand.IsRoot)
                throw new ArgumentException($"--kind {k} needs root (network namespaces for partition, a tmpfs mount for disk); running as {Environment.UserName}");
            only.Add(kind);
        }
        var catalogue = FaultPlan.Catalogue(_o.Journal, only);
        Directory.CreateDirectory(_outDir);
        _log = new StreamWriter(Path.Combine(_outDir, "chaos.log"), append: false) { AutoFlush = true };
        try
        {
            foreach (var (kind, _) in catalogue) _counts[FaultPlan.Name(kind)] = 0;
            if (!HostCommand.IsRoot && catalogue.Any(c => FaultPlan.NeedsRoot(c.Kind)))
            {
                Log($"partition and disk faults skipped: they need root (network namespaces, a tmpfs mount) and this runs as {Environment.UserName}");
                catalogue = [.. catalogue.Where(c => !FaultPlan.NeedsRoot(c.Kind))];
                if (catalogue.Count == 0) throw new ArgumentException("no fault kind left to draw from");
            }
            var plan = FaultPlan.Make(_o.Faults, _o.Seed, steps, catalogue, (LeaseTimeoutSeconds + StableAfterSeconds + 1) * 1000, (StableAfterSeconds + 1) * 1000);
            Log($"chaos: seed {_o.Seed}, {_o.Faults} faults over {steps} steps, {_o.Samplers} samplers + a verifier node, journal {_o.Journal}, " +
                $"max-policy-lag {_o.MaxPolicyLag}, out {_outDir}");
            Log("plan: " + string.Join(", ", plan.Select(f => $"{FaultPlan.Name(f.Kind)}@{f.AtStep}")));
            var warm = WarmStart.SaveRandomMicro(Path.Combine(_outDir, "warm"), "thinking", _o.Seed);
            using var pg = _o.Journal == "postgresql" ? PrivatePostgres.Start() : null;
            if (pg is not null) Log($"postgresql: a private server on 127.0.0.1:{pg.Port}");
            var tag = $"chaos-{_o.Seed}-{Guid.NewGuid():N}"[..24];

            string? reference = null;
            string[]? referenceIds = null;
            if (_o.MaxPolicyLag == 0)
            {
                reference = Path.Combine(_outDir, "reference");
                await ReferenceAsync(reference, warm, pg?.ConnectionString, tag + "-ref", steps, ct);
                if (_failures.Count > 0) return Result(steps, null);
                referenceIds = await ReplayBufferContents.ReadIdsAsync(reference);
            }
            else
            {
                Log($"no reference run: with max-policy-lag {_o.MaxPolicyLag} a run is not deterministic; the oracle checks that no prompt is lost or counted twice and the lag bound");
            }

            var disturbed = Path.Combine(_outDir, "disturbed");
            using var net = plan.Any(f => f.Kind == FaultKind.Partition) ? NetworkNamespaces.Create(_o.Samplers + 1) : null;
            if (net is not null)
                Log($"partition: the learner side on a bridge at {net.HostAddress}, each worker node in a network namespace of its own " +
                    $"({net.Namespace(0)}..{net.Namespace(net.Nodes - 1)}, {net.NodeAddress(0)}..{net.NodeAddress(net.Nodes - 1)}); a partition sets its veth link down");
            using var disk = plan.Any(f => f.Kind == FaultKind.DiskFull) ? TmpfsRunDir.Mount(disturbed) : null;
            if (disk is not null) Log($"disk: the disturbed run directory on a {TmpfsRunDir.SizeMiB} MiB tmpfs; a disk fault fills it with a ballast file, then deletes it");
            await DisturbedAsync(disturbed, warm, new Faults(pg, net, disk), tag + "-dis", steps, plan, ct);
            var ids = await ReplayBufferContents.ReadIdsAsync(disturbed);
            var verdict = ChaosOracle.Judge(disturbed, ids, reference, referenceIds, steps, PromptsPerStep, SamplesPerPrompt, _o.MaxPolicyLag,
                new HashSet<string>(_o.IgnoreKeys, StringComparer.Ordinal));
            foreach (var d in verdict.Differences) Log("difference: " + d);
            Log($"final checkpoint model.safetensors SHA-256 {verdict.FinalSha256}; buffer {ids.Length} ids; max policy_lag {verdict.MaxPolicyLag}");
            return Result(steps, verdict);
        }
        finally
        {
            _log.Dispose();
        }
    }

    private ChaosResult Result(int steps, OracleVerdict? verdict)
    {
        var result = new ChaosResult(new Dictionary<string, int>(_counts), steps, verdict, [.. _failures], _clock.Elapsed.TotalSeconds);
        foreach (var f in _failures) Log("failure: " + f);
        _log?.WriteLine(result.Line());
        return result;
    }

    private async Task ReferenceAsync(string runDir, string warm, string? connectionString, string runId, int steps, CancellationToken ct)
    {
        Log($"reference: the undisturbed run, one node, {steps} steps, in {runDir}");
        using var p = NodeProcess.Start("reference", ["train", "--steps", $"{steps}", .. NodeProcess.SetArgs(RunSets(runDir, warm, _o, connectionString, runId))],
            Path.Combine(_outDir, "logs", "reference.log"));
        using var reg = ct.Register(p.Kill);
        var last = -1;
        var lastProgress = _clock.Elapsed;
        while (!await p.WaitForExitAsync(TimeSpan.FromSeconds(1)))
        {
            var n = StepsIn(runDir);
            if (n != last)
            {
                last = n;
                lastProgress = _clock.Elapsed;
            }
            if (_clock.Elapsed - lastProgress > _o.StallTimeout)
            {
                _failures.Add($"the reference run made no step for {_o.StallTimeout.TotalSeconds:F0} s (at step {n}): hung\n{p.Tail()}");
                p.Kill();
                return;
            }
        }
        ct.ThrowIfCancellationRequested();
        if (p.ExitCode != 0) _failures.Add($"the reference run exited with {p.ExitCode}\n{p.Tail()}");
        else Log($"reference: done, {StepsIn(runDir)} steps");
    }

    /// <summary>A node slot: the process now in it, and whether the harness took it down on purpose.</summary>
    private sealed class Slot(string name, Func<int, NodeProcess> start)
    {
        private int _starts;

        public string Name { get; } = name;

        public NodeProcess? Process { get; private set; }

        public DateTime? RestartAt { get; set; }

        public DateTime? ContinueAt { get; set; }

        /// <summary>When a partitioned node's link comes up again (null: not partitioned).</summary>
        public DateTime? HealAt { get; set; }

        /// <summary>Its network namespace's index (worker nodes with <c>partition</c> faults).</summary>
        public int NetIndex { get; init; } = -1;

        public bool Up => Process is { HasExited: false } && ContinueAt is null && RestartAt is null && HealAt is null;

        public void Start()
        {
            Process?.Dispose();
            Process = start(++_starts);
            RestartAt = null;
        }

        public void Kill()
        {
            Process?.Kill();
        }
    }

    /// <summary>What the harness injects faults through beside signals: its PostgreSQL, network namespaces, tmpfs (each null when not in use).</summary>
    private sealed record Faults(PrivatePostgres? Pg, NetworkNamespaces? Net, TmpfsRunDir? Disk)
    {
        /// <summary>When the ballast of a <c>disk</c> fault is deleted (null: no disk fault in progress).</summary>
        public DateTime? DiskFreeAt { get; set; }

        /// <summary>When the database of a <c>db-down</c> fault is started again (null: it is up).</summary>
        public DateTime? DatabaseUpAt { get; set; }

        /// <summary>When the last <c>disk</c> or <c>db-down</c> fault ended (a learner stop soon after is the resumable stop they may cause).</summary>
        public DateTime? StorageFaultEnded { get; set; }

        /// <summary>A disk or db-down fault is in progress or ended less than 2 minutes ago (the journal retries for about a minute).</summary>
        public bool StorageFaultRecent(DateTime now) => DiskFreeAt is not null || DatabaseUpAt is not null ||
            (StorageFaultEnded is { } t && now - t < TimeSpan.FromMinutes(2));
    }

    private async Task DisturbedAsync(string runDir, string warm, Faults env, string runId, int steps, IReadOnlyList<PlannedFault> plan, CancellationToken ct)
    {
        var pg = env.Pg;
        var net = env.Net;
        var port = NodeProcess.FreePort();
        var sets = RunSets(runDir, warm, _o, pg?.ConnectionString, runId);
        var host = net?.HostAddress ?? "127.0.0.1";
        var seed = TrainRunner.SeedAddress(host, port);
        var logs = Path.Combine(_outDir, "logs");
        var resumeNext = false;
        var learner = new Slot("learner", n =>
        {
            var args = new List<string> { "train", "--cluster", "--port", $"{port}", "--hostname", host, "--steps", $"{steps}" };
            if (resumeNext) args.Add("--resume");
            return NodeProcess.Start($"learner#{n}", [.. args, .. NodeProcess.SetArgs(sets)], Path.Combine(logs, "learner.log"));
        });
        NodeProcess Worker(string name, string roles, int n, int netIndex) =>
            NodeProcess.Start($"{name}#{n}", ["node", "--roles", roles, "--seed", seed, "--hostname", net?.NodeAddress(netIndex) ?? "127.0.0.1", .. NodeProcess.SetArgs(sets)],
                Path.Combine(logs, $"{name}.log"), net?.Namespace(netIndex));
        var samplers = Enumerable.Range(1, _o.Samplers).Select(i => new Slot($"sampler-{i}", n => Worker($"sampler-{i}", "sampler", n, i - 1)) { NetIndex = i - 1 }).ToList();
        var verifier = new Slot("verifier", n => Worker("verifier", "verifier", n, _o.Samplers)) { NetIndex = _o.Samplers };
        var all = new List<Slot> { learner, verifier };
        all.AddRange(samplers);
        Log($"disturbed: a cluster on {host}:{port} (learner side, {_o.Samplers} samplers, a verifier node), {steps} steps, in {runDir}");
        try
        {
            learner.Start();
            resumeNext = true;
            verifier.Start();
            foreach (var s in samplers) s.Start();

            var next = 0;
            var selfExits = 0;
            DateTime? dueAt = null;
            var lastSteps = -1;
            var lastProgress = DateTime.UtcNow;
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                await Task.Delay(20, ct);
                var now = DateTime.UtcNow;
                var done = StepsIn(runDir);
                if (done != lastSteps)
                {
                    lastSteps = done;
                    lastProgress = now;
                }
                foreach (var slot in all)
                {
                    if (slot.RestartAt is { } at && now >= at)
                    {
                        slot.Start();
                        Log($"restart {slot.Name} (pid {slot.Process!.Pid})");
                    }
                    if (slot.ContinueAt is { } c && now >= c)
                    {
                        slot.ContinueAt = null;
                        slot.Process?.Continue();
                        Log($"SIGCONT {slot.Name} (pid {slot.Process?.Pid}): back with whatever it held");
                    }
                    if (slot.HealAt is { } h && now >= h)
                    {
                        slot.HealAt = null;
                        net!.Heal(slot.NetIndex);
                        Log($"partition of {slot.Name} healed (its link up again)");
                    }
                }
                if (env.DiskFreeAt is { } free && now >= free)
                {
                    env.Disk!.Free();
                    env.DiskFreeAt = null;
                    env.StorageFaultEnded = now;
                    Log($"disk: ballast deleted, {env.Disk.FreeBytes / (1 << 20)} MiB free");
                }
                if (env.DatabaseUpAt is { } upAt && now >= upAt)
                {
                    pg!.StartAgain();
                    env.DatabaseUpAt = null;
                    env.StorageFaultEnded = DateTime.UtcNow;
                    Log("PostgreSQL started again");
                }
                if (learner.Process is { HasExited: true } lp && learner.RestartAt is null)
                {
                    if (lp.ExitCode == 0 && done >= steps && RunFiles.IsFinished(runDir)) break;
                    // A full disk or a database down for longer than the journal's retries: the run stopped resumably, as
                    // documented (or a restarted learner refused a full run directory). Resume it once the fault is over,
                    // as its operator would.
                    var stopLine = lp.Output.Split('\n').LastOrDefault(l => ResumableStopMarkers.Any(m => l.Contains(m, StringComparison.Ordinal)))?.Trim();
                    if (lp.ExitCode != 0 && env.StorageFaultRecent(now) && stopLine is not null)
                    {
                        learner.RestartAt = new[] { now, env.DiskFreeAt ?? now, env.DatabaseUpAt ?? now }.Max().AddSeconds(1);
                        Log($"the learner side stopped resumably at step {done} (exit {lp.ExitCode}: {stopLine}); resuming it with --resume once the fault is over");
                        continue;
                    }
                    // Not a fault of the plan: a finding. Restart it as a supervisor (systemd, Kubernetes) would, so the
                    // rest of the run is still judged.
                    _failures.Add($"the learner side exited by itself with {lp.ExitCode} at step {done} of {steps}; restarted with --resume\n{lp.Tail()}");
                    Log($"the learner side exited by itself with {lp.ExitCode} at step {done} (a finding); restarting it with --resume");
                    if (++selfExits > 5) return;
                    learner.Start();
                }
                var finished = done >= steps && RunFiles.IsFinished(runDir);
                foreach (var slot in all.Where(s => s != learner && s.Process is { HasExited: true } && s.RestartAt is null))
                {
                    // The learner tells every node when the run has finished and they exit 0: their normal end, not a finding.
                    if (finished && slot.Process!.ExitCode == 0) continue;
                    _failures.Add($"{slot.Name} exited by itself with {slot.Process!.ExitCode} at step {done}\n{slot.Process.Tail()}");
                    slot.RestartAt = now;
                }
                if (now - lastProgress > _o.StallTimeout)
                {
                    _failures.Add($"no step completed for {_o.StallTimeout.TotalSeconds:F0} s (at step {done} of {steps}, {next} of {plan.Count} faults injected): hung\n" +
                        $"--- learner:\n{learner.Process?.Tail()}");
                    return;
                }
                if (next >= plan.Count || done < plan[next].AtStep) continue;
                var fault = plan[next];
                dueAt ??= now.AddMilliseconds(fault.DelayMs);
                if (now < dueAt) continue;
                if (!Inject(fault, runDir, learner, verifier, samplers, env, done)) continue;   // its target is not up yet: try again
                dueAt = null;
                next++;
            }
            Log($"disturbed: done, {StepsIn(runDir)} steps, {next} of {plan.Count} faults injected");
            if (next < plan.Count) _failures.Add($"only {next} of {plan.Count} faults were injected before the run finished");
        }
        finally
        {
            foreach (var slot in all.Where(s => s.HealAt is not null)) net?.Heal(slot.NetIndex);
            if (env.DiskFreeAt is not null) env.Disk?.Free();
            if (env.DatabaseUpAt is not null) pg?.StartAgain();
            foreach (var slot in all.Where(s => s.Process is { HasExited: false }))
            {
                slot.Process!.Continue();
                slot.Process.Terminate();
            }
            foreach (var slot in all.Where(s => s.Process is not null))
            {
                if (!await slot.Process!.WaitForExitAsync(TimeSpan.FromSeconds(20))) slot.Process.Kill();
                slot.Process.Dispose();
            }
        }
    }

    /// <summary>Injects one fault; false when no node of its kind is up (it is retried on the next tick).</summary>
    private bool Inject(PlannedFault f, string runDir, Slot learner, Slot verifier, List<Slot> samplers, Faults env, int step)
    {
        var pg = env.Pg;
        var name = FaultPlan.Name(f.Kind);
        switch (f.Kind)
        {
            case FaultKind.KillSampler:
            case FaultKind.KillSamplerInFetch:
            case FaultKind.StopSampler:
                {
                    var up = samplers.Where(s => s.Up).ToList();
                    if (up.Count == 0) return false;
                    var target = up[f.Pick % up.Count];
                    var detail = "";
                    if (f.Kind == FaultKind.KillSamplerInFetch)
                    {
                        // A new policy is published right after a step's line is written: wait for the next line, kill at once.
                        var before = StepsIn(runDir);
                        var until = DateTime.UtcNow.AddSeconds(60);
                        while (StepsIn(runDir) == before && DateTime.UtcNow < until && learner.Process is { HasExited: false }) Thread.Sleep(2);
                        target.Kill();
                        var version = StepsIn(runDir);
                        detail = target.Process!.Output.Contains($": policy v{version} fetched", StringComparison.Ordinal)
                            ? $" (v{version} was already fetched)" : $" (during the fetch of v{version}: not completed)";
                    }
                    if (f.Kind == FaultKind.StopSampler)
                    {
                        target.Process!.Pause();
                        target.ContinueAt = DateTime.UtcNow.AddMilliseconds(f.PauseMs);
                        Count(name, f, step, $"SIGSTOP {target.Name} (pid {target.Process.Pid}) for {f.PauseMs / 1000.0:F1} s (lease timeout {LeaseTimeoutSeconds} s, stable-after {StableAfterSeconds} s)");
                        return true;
                    }
                    if (f.Kind == FaultKind.KillSampler) target.Kill();
                    target.RestartAt = DateTime.UtcNow.AddMilliseconds(f.PauseMs);
                    Count(name, f, step, $"SIGKILL {target.Name} (pid {target.Process!.Pid}){detail}; restart in {f.PauseMs / 1000.0:F1} s");
                    return true;
                }
            case FaultKind.KillVerifier:
                {
                    if (!verifier.Up) return false;
                    verifier.Kill();
                    verifier.RestartAt = DateTime.UtcNow.AddMilliseconds(f.PauseMs);
                    Count(name, f, step, $"SIGKILL verifier (pid {verifier.Process!.Pid}); restart in {f.PauseMs / 1000.0:F1} s");
                    return true;
                }
            case FaultKind.KillLearner:
            case FaultKind.KillLearnerInCheckpoint:
                {
                    if (learner.Process is not { HasExited: false } p) return false;
                    var detail = "";
                    if (f.Kind == FaultKind.KillLearnerInCheckpoint) detail = WaitForCheckpointWrite(runDir, p);
                    var pid = p.Pid;
                    learner.Kill();
                    var at = StepsIn(runDir);
                    learner.Start();
                    Count(name, f, step, $"SIGKILL learner (pid {pid}) at step {at}{detail}; restarted with --resume (pid {learner.Process!.Pid})");
                    return true;
                }
            case FaultKind.RestartDatabase:
                {
                    if (pg is null || env.DatabaseUpAt is not null) return false;
                    var sw = Stopwatch.StartNew();
                    pg.RestartImmediate();
                    Count(name, f, step, $"PostgreSQL restarted in immediate mode (down {sw.Elapsed.TotalSeconds:F1} s)");
                    return true;
                }
            case FaultKind.Partition:
                {
                    var up = samplers.Append(verifier).Where(s => s.Up).ToList();
                    if (env.Net is null || up.Count == 0) return false;
                    var target = up[f.Pick % up.Count];
                    env.Net.Cut(target.NetIndex);
                    target.HealAt = DateTime.UtcNow.AddMilliseconds(f.PauseMs);
                    Count(name, f, step, $"{target.Name} (pid {target.Process!.Pid}, {env.Net.NodeAddress(target.NetIndex)}) cut off for {f.PauseMs / 1000.0:F1} s " +
                        $"(its veth link down; stable-after {StableAfterSeconds} s)");
                    return true;
                }
            case FaultKind.DiskFull:
                {
                    if (env.Disk is null || env.DiskFreeAt is not null) return false;
                    var sw = Stopwatch.StartNew();
                    var ballast = env.Disk.Fill();
                    env.DiskFreeAt = DateTime.UtcNow.AddMilliseconds(f.PauseMs);
                    Count(name, f, step, $"the run directory's tmpfs filled: ballast {ballast / (1 << 20)} MiB in {sw.Elapsed.TotalSeconds:F1} s, " +
                        $"{env.Disk.FreeBytes} bytes free; deleted in {f.PauseMs / 1000.0:F1} s");
                    return true;
                }
            case FaultKind.DatabaseDown:
                {
                    if (pg is null || env.DatabaseUpAt is not null) return false;
                    var stepMs = (int)Math.Max(1000, LastStepSeconds(runDir) * 1000);
                    var down = stepMs + f.PauseMs;
                    pg.Stop();
                    env.DatabaseUpAt = DateTime.UtcNow.AddMilliseconds(down);
                    Count(name, f, step, $"PostgreSQL stopped for {down / 1000.0:F1} s (the last step took {stepMs / 1000.0:F1} s)");
                    return true;
                }
            default:
                throw new ArgumentOutOfRangeException(nameof(f), f.Kind, null);
        }
    }

    /// <summary>
    /// Polls the checkpoint folder until a new checkpoint temp directory appears (the learner is writing one) and returns
    /// what was caught; gives up once two more steps are done or after 60 s (then the kill lands between writes).
    /// </summary>
    private static string WaitForCheckpointWrite(string runDir, NodeProcess learner)
    {
        var dir = RunContext.CheckpointDirectoryOf(runDir);
        string[] Temps() => Directory.Exists(dir) ? [.. Directory.EnumerateDirectories(dir, ".tmp-step-*").Select(Path.GetFileName)!] : [];
        var old = new HashSet<string>(Temps(), StringComparer.Ordinal);
        var start = StepsIn(runDir);
        var until = DateTime.UtcNow.AddSeconds(60);
        for (var i = 0; DateTime.UtcNow < until && !learner.HasExited; i++)
        {
            if (i % 100 == 99 && StepsIn(runDir) >= start + 4) break;
            try
            {
                if (Temps().FirstOrDefault(t => !old.Contains(t)) is { } caught) return $", mid-write of checkpoint {caught[5..16]}";
            }
            catch (DirectoryNotFoundException)
            {
            }
            Thread.Sleep(1);
        }
        return ", no checkpoint write caught (killed between writes)";
    }

    private void Count(string name, PlannedFault f, int step, string what)
    {
        _counts[name] = _counts.GetValueOrDefault(name) + 1;
        Log($"fault {_counts.Values.Sum()}/{_o.Faults} {name} (plan #{f.Index + 1}) at step {step}: {what}");
    }

    private void Log(string line)
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"[{_clock.Elapsed.TotalSeconds,7:F1} s] {line}");
        _out.WriteLine(text);
        _log?.WriteLine($"{DateTime.UtcNow:O} {text}");
    }

    /// <summary>The last complete metrics line's <c>step_s</c> (0 when there is none).</summary>
    private static double LastStepSeconds(string runDir)
    {
        try
        {
            var path = RunFiles.PathOf(runDir, RunFiles.MetricsFile);
            if (!File.Exists(path)) return 0;
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            string? last = null;
            while (reader.ReadLine() is { } line)
            {
                if (line.EndsWith('}')) last = line;
            }
            return last is not null && System.Text.Json.Nodes.JsonNode.Parse(last)?["step_s"] is { } v ? v.GetValue<double>() : 0;
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            return 0;
        }
    }

    /// <summary>Complete metrics lines in a run directory (a torn last line is not counted).</summary>
    private static int StepsIn(string runDir)
    {
        var path = RunFiles.PathOf(runDir, RunFiles.MetricsFile);
        try
        {
            if (!File.Exists(path)) return 0;
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            var n = 0;
            while (reader.ReadLine() is { } line)
            {
                if (line.EndsWith('}')) n++;
            }
            return n;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
