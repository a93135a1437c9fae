using System.Collections.Immutable;
using RoRecomp.Core.Coordination;
using S = RoRecomp.Core.Coordination.CoordinatorState<string, string, string>;

namespace RoRecomp.Core.Tests;

public sealed class CoordinatorStateTests
{
    private const int SamplesPerPrompt = 2;

    /// <summary>
    /// Runs commands the way the actor does: decide, keep the state, carry out the effects (answer <see cref="OpenStep"/>
    /// with planned leases at once, log every effect), then queue the journal events (durable only when
    /// <see cref="Durable"/> says so, like PersistAsync). Also checks the effect-level guarantees as they happen.
    /// </summary>
    private sealed class Harness(CoordinatorOptions options, int leaseSize = 3, int runSeed = 1, IEnumerable<IRunEvent>? journal = null)
    {
        public S State { get; private set; } = S.Empty(options).ApplyAll(journal ?? []);
        public long ResumedFrom { get; private set; }
        public List<IRunEvent> Journal { get; } = [.. journal ?? []];
        public List<IRunEvent> InFlight { get; } = [];
        public List<ICoordinatorEffect> Log { get; } = [];
        public Dictionary<long, ImmutableArray<WorkLease>> Planned { get; } = [];
        public Dictionary<string, WorkLease> LeasesById { get; } = new(StringComparer.Ordinal);
        public TimeSpan Now { get; set; }

        public List<ICoordinatorEffect> Send(ICoordinatorCommand command)
        {
            var decision = State.Process(command);
            State = decision.State;
            if (command is StartRun { From: { } from }) ResumedFrom = from.Step;
            foreach (var effect in decision.Effects)
            {
                Log.Add(effect);
                switch (effect)
                {
                    case OpenStep open:
                        var leases = WorkLeases.Plan(open.Step, open.Cursor, options.PromptsPerStep, leaseSize, SamplesPerPrompt, open.PolicyVersion, runSeed);
                        Assert.False(Planned.ContainsKey(open.Step), $"step {open.Step} opened twice");
                        Planned[open.Step] = leases;
                        foreach (var l in leases) LeasesById[l.LeaseId] = l;
                        Send(new StepPlanned(open.Step, leases, Now));
                        break;
                    case GrantLease<string> grant:
                        Assert.Equal(LeasesById[grant.Lease.LeaseId], grant.Lease);   // a re-issued lease is the same lease
                        break;
                    case ReportStep<string, string> report:
                        // Nothing is reported while an earlier step's commit is being written (only the re-commit of the
                        // checkpoint the run resumed from may still be in flight).
                        Assert.DoesNotContain(InFlight, e => e is CheckpointCommitted c && c.Checkpoint.Step > ResumedFrom);
                        break;
                }
            }
            // The events are written after the effects were carried out: a step's commit after its report.
            foreach (var e in decision.Events.OfType<CheckpointCommitted>().Where(c => c.Checkpoint.Step > ResumedFrom))
                Assert.Contains(Log, l => l is ReportStep<string, string> r && r.Step == e.Checkpoint.Step && r.Checkpoint == e.Checkpoint.Path);
            InFlight.AddRange(decision.Events);
            return [.. decision.Effects];
        }

        /// <summary>The oldest in-flight event becomes durable; the state hears of it (a crash can fall between the two).</summary>
        public void Durable()
        {
            var e = InFlight[0];
            InFlight.RemoveAt(0);
            Journal.Add(e);
            CheckEveryStepUpToTheNewestCommitWasReported();
            Send(new CommitDurable(e));
        }

        /// <summary>
        /// What a crash right now would leave: a resume continues after the newest durable commit, so every step up to it
        /// must have been reported (its metrics line written), else that line is never written.
        /// </summary>
        public void CheckEveryStepUpToTheNewestCommitWasReported()
        {
            if (Journal.OfType<CheckpointCommitted>().LastOrDefault() is not { } newest) return;
            var reported = Logged<ReportStep<string, string>>().Select(r => r.Step).ToHashSet();
            for (var step = ResumedFrom + 1; step <= newest.Checkpoint.Step; step++)
                Assert.True(reported.Contains(step), $"step {step} is not reported but the journal's newest commit is step {newest.Checkpoint.Step}: a crash now would never write its line");
        }

        public IEnumerable<T> Logged<T>() => Log.OfType<T>();
    }

    private static CoordinatorOptions Options(long total = 4, int prompts = 6, int lag = 0, int evalEvery = 0) => new(total, prompts, lag, evalEvery);

    private static CompleteStep<string> Trained(long step, string? checkpoint = null, TimeSpan at = default) =>
        new(step, step, checkpoint, $"trained {step}", at);

    /// <summary>The invariants that hold after every command.</summary>
    private static void CheckInvariants(Harness h, ISet<string> completed)
    {
        var s = h.State;
        var o = s.Options;
        foreach (var (step, _) in s.Open)
        {
            Assert.InRange(step, s.TrainedStep + 1, s.TrainedStep + 1 + o.MaxPolicyLag);   // within the policy lag
            foreach (var lease in h.Planned[step])
            {
                var copies = s.Queue.Count(l => l.LeaseId == lease.LeaseId) + (s.Outstanding.ContainsKey(lease.LeaseId) ? 1 : 0);
                Assert.True(copies <= 1, $"lease {lease.LeaseId} is queued or granted {copies} times");                // never duplicated
                Assert.True(copies == 1 || completed.Contains(lease.LeaseId), $"lease {lease.LeaseId} was lost");       // never lost
            }
        }
        Assert.True(s.Open.Count <= o.MaxPolicyLag + 1);
        Assert.All(s.Outstanding.Values, hold => Assert.Contains(hold.Sampler, s.Samplers));   // no lease held by a sampler that stopped
        Assert.All(s.Idle, sampler => Assert.Contains(sampler, s.Samplers));
        Assert.Equal(s.Idle.Count, s.Idle.Distinct().Count());
        Assert.False(s.Started && !s.Done && !s.Queue.IsEmpty && !s.Idle.IsEmpty, "a lease waits while a sampler is idle");
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Random_sampler_churn_timeouts_and_slow_commits_lose_no_lease_and_report_every_step_once_in_order(int seed)
    {
        var rng = new Random(seed);
        var options = Options(total: rng.Next(1, 7), prompts: rng.Next(1, 8), lag: rng.Next(0, 3), evalEvery: rng.Next(0, 4));
        var checkpointEvery = rng.Next(1, 4);
        var h = new Harness(options, leaseSize: rng.Next(1, 4), runSeed: seed);
        var completed = new HashSet<string>(StringComparer.Ordinal);      // what the recomposer received
        var held = new List<(string Sampler, WorkLease Lease)>();         // what samplers are working on (also after a timeout)
        var timers = new Dictionary<string, int>(StringComparer.Ordinal); // running lease timers: id -> attempt
        var alive = new List<string>();
        var evaluations = new Queue<Evaluate>();
        var nextSampler = 0;

        var seen = 0;
        void Track()
        {
            // From the log, which also holds the effects of the nested StepPlanned commands.
            foreach (var effect in h.Log.Skip(seen))
            {
                switch (effect)
                {
                    case GrantLease<string> g:
                        held.Add((g.Sampler, g.Lease));
                        timers[g.Lease.LeaseId] = g.Attempt;
                        break;
                    case CancelLeaseTimeout c:
                        timers.Remove(c.LeaseId);
                        break;
                    case Evaluate e:
                        evaluations.Enqueue(e);
                        break;
                }
            }
            seen = h.Log.Count;
            CheckInvariants(h, completed);
        }

        void Send(ICoordinatorCommand command)
        {
            h.Send(command);
            Track();
        }

        Send(new StartRun(null, 0, []));
        for (var i = 0; i < 20000 && !h.State.Done; i++)
        {
            h.Now += TimeSpan.FromSeconds(1);
            switch (rng.Next(0, 9))
            {
                case 0 when alive.Count < 4 || rng.Next(0, 4) == 0:
                    var name = $"sampler-{nextSampler++}";
                    alive.Add(name);
                    Send(new OfferSampler<string>(name, name));
                    break;
                case 1 when alive.Count > 0:
                    // A sampler asks for (more) work, also while it holds a lease.
                    var asking = alive[rng.Next(alive.Count)];
                    Send(new OfferSampler<string>(asking, asking));
                    break;
                case 2 or 3 when held.Count > 0:
                    // A sampler finishes a lease (maybe one that timed out and went to another sampler meanwhile), and asks again.
                    var k = rng.Next(held.Count);
                    var (sampler, lease) = held[k];
                    held.RemoveAt(k);
                    completed.Add(lease.LeaseId);
                    Send(new CompleteLease(lease.LeaseId));
                    Send(new OfferSampler<string>(sampler, sampler));
                    break;
                case 4 when timers.Count > 0 && rng.Next(0, 3) == 0:
                    var (id, attempt) = timers.ElementAt(rng.Next(timers.Count));
                    timers.Remove(id);
                    Send(new ExpireLease(id, attempt));
                    Send(new ExpireLease(id, attempt - 1));   // a stale timeout: ignored
                    break;
                case 5 when alive.Count > 1 && rng.Next(0, 4) == 0:
                    var dead = alive[rng.Next(alive.Count)];
                    alive.Remove(dead);
                    held.RemoveAll(x => x.Sampler == dead);
                    Send(new DropSampler<string>(dead));
                    break;
                case 6 when h.InFlight.Count > 0:
                    h.Durable();
                    Track();
                    break;
                case 7 when evaluations.Count > 0:
                    var due = evaluations.Dequeue();
                    Send(new RecordEvaluation<string>(due.Step, $"eval {due.Step}"));
                    break;
                case 8 when h.State.Open.Count > 0:
                    // The learner trains the oldest open step once the recomposer has all its leases.
                    var step = h.State.Open.Keys.First();
                    if (h.Planned[step].All(l => completed.Contains(l.LeaseId)))
                        Send(Trained(step, step % checkpointEvery == 0 ? $"ckpt/{step}" : null, h.Now));
                    break;
            }
        }

        Assert.True(h.State.Done, $"run did not finish: {h.State.TrainedStep}/{options.TotalSteps} trained");
        var reports = h.Logged<ReportStep<string, string>>().ToList();
        Assert.Equal(Enumerable.Range(1, (int)options.TotalSteps).Select(s => (long)s), reports.Select(r => r.Step));
        foreach (var r in reports)
        {
            var due = (options.EvalEvery > 0 && r.Step % options.EvalEvery == 0) || r.Step == options.TotalSteps;
            Assert.Equal(due ? $"eval {r.Step}" : null, r.Evaluation);
            Assert.Equal($"trained {r.Step}", r.Trained);
            Assert.Equal(r.Step * options.PromptsPerStep, r.Cursor);
        }
        Assert.Single(h.Logged<ReportFinished>());
        Assert.IsType<ReportFinished>(h.Log[^1]);
        Assert.Equal(options.EvalEvery > 0 ? 1 : 0, h.Logged<Evaluate>().Count(e => e.Step == 0));
        // Every prompt of the run was in exactly one lease of one step, in data order.
        Assert.Equal(Enumerable.Range(0, (int)(options.TotalSteps * options.PromptsPerStep)).Select(i => (long)i),
            h.Planned.OrderBy(kv => kv.Key).SelectMany(kv => kv.Value).SelectMany(l => l.PromptIndices));
        // Recovery: the fold of the journal is the live durable state.
        while (h.InFlight.Count > 0) h.Durable();
        var recovered = S.Empty(options).ApplyAll(h.Journal);
        Assert.Equal<RunCheckpoint>(h.State.Journal.Checkpoints, recovered.Journal.Checkpoints);
        Assert.Equal<RunCheckpoint>(h.State.ResumeCandidates, recovered.ResumeCandidates);
    }

    public static TheoryData<int> Seeds() => [.. Gen.Seeds(150)];

    [Theory]
    [MemberData(nameof(Seeds))]
    public void A_run_resumed_from_its_journal_continues_after_the_newest_commit_with_the_same_leases(int seed)
    {
        var rng = new Random(seed);
        var options = Options(total: rng.Next(2, 9), prompts: rng.Next(1, 6), lag: rng.Next(0, 3));
        var h = new Harness(options, leaseSize: 2, runSeed: seed);
        h.Send(new StartRun(null, 0, []));
        h.Send(new OfferSampler<string>("s", "s"));
        var crashAt = rng.Next(1, (int)options.TotalSteps + 1);
        for (var step = 1L; step <= crashAt; step++)
        {
            while (h.InFlight.Count > 0) h.Durable();
            foreach (var lease in h.Planned[step]) { h.Send(new CompleteLease(lease.LeaseId)); h.Send(new OfferSampler<string>("s", "s")); }
            h.Send(Trained(step, rng.Next(0, 2) == 0 ? $"ckpt/{step}" : null));
        }
        if (h.InFlight.Count > 0 && rng.Next(0, 2) == 0) h.Durable();   // else the last commit (if any) is lost in the crash

        var resumed = new Harness(options, leaseSize: 2, runSeed: seed, journal: h.Journal);
        Assert.Equal<RunCheckpoint>(h.State.Journal.Checkpoints, resumed.State.Journal.Checkpoints);
        var from = resumed.State.ResumeCandidates.FirstOrDefault();
        Assert.Equal(h.Journal.OfType<CheckpointCommitted>().LastOrDefault()?.Checkpoint, from);
        resumed.Send(new StartRun(from, from?.PolicyVersion ?? 0, []));
        Assert.Empty(resumed.InFlight);   // it continues from the newest commit: nothing to re-commit
        var next = (from?.Step ?? 0) + 1;
        Assert.Equal(next <= options.TotalSteps ? new OpenStep(next, from?.Cursor ?? 0, from?.PolicyVersion ?? 0) : null, resumed.Logged<OpenStep>().FirstOrDefault());
        // The re-run steps sample exactly what the first run sampled (same ids, prompts and seeds).
        foreach (var (step, leases) in resumed.Planned)
        {
            Assert.Equal(h.Planned[step].Select(l => (l.LeaseId, l.Seed, string.Join(",", l.PromptIndices))),
                leases.Select(l => (l.LeaseId, l.Seed, string.Join(",", l.PromptIndices))));
        }
    }

    [Fact]
    public void Leases_go_to_pulling_samplers_and_a_dead_or_late_samplers_lease_is_reissued_with_its_id()
    {
        var h = new Harness(Options(total: 2, prompts: 4, evalEvery: 1), leaseSize: 2);
        Assert.Empty(h.Send(new OfferSampler<string>("a", "a")).OfType<GrantLease<string>>());   // before the policy is loaded: it waits
        Assert.Equal([new ReportStarted(null, 0, []), (ICoordinatorEffect)new Evaluate(0, 0)],
            h.Send(new StartRun(null, 0, [])).Select(e => e is ReportStarted r ? r with { Skipped = [] } : e));
        var afterBaseline = h.Send(new RecordEvaluation<string>(0, "warm"));
        Assert.IsType<ReportBaseline<string>>(afterBaseline[0]);
        Assert.Equal(new OpenStep(1, 0, 0), afterBaseline[1]);
        var first = Assert.Single(h.Logged<GrantLease<string>>());
        Assert.Equal(("a", "s000001-l000", 1), (first.Sampler, first.Lease.LeaseId, first.Attempt));
        var second = Assert.IsType<GrantLease<string>>(h.Send(new OfferSampler<string>("b", "b"))[1]);
        Assert.Equal(("b", "s000001-l001"), (second.Sampler, second.Lease.LeaseId));

        // b finishes and asks again; a dies holding its lease: b gets it, same id.
        Assert.Equal([new CancelLeaseTimeout("s000001-l001")], h.Send(new CompleteLease("s000001-l001")));
        h.Send(new OfferSampler<string>("b", "b"));
        var dropped = h.Send(new DropSampler<string>("a"));
        Assert.Equal(new SamplerLeft<string>("a", 1), dropped[0]);
        Assert.Equal(new LeaseReissued<string>("s000001-l000", "a", ReissueReason.SamplerStopped), dropped[1]);
        var regrant = Assert.IsType<GrantLease<string>>(dropped[^1]);
        Assert.Equal(("b", "s000001-l000", 3), (regrant.Sampler, regrant.Lease.LeaseId, regrant.Attempt));

        // The first grant's timeout is stale; the live one re-issues (to b, the only sampler asking).
        Assert.Empty(h.Send(new ExpireLease("s000001-l000", 1)));
        h.Send(new OfferSampler<string>("b", "b"));
        var expired = h.Send(new ExpireLease("s000001-l000", 3));
        Assert.Equal(new LeaseReissued<string>("s000001-l000", "b", ReissueReason.TimedOut), expired[0]);
        Assert.Equal(("s000001-l000", 4), (((GrantLease<string>)expired[1]).Lease.LeaseId, ((GrantLease<string>)expired[1]).Attempt));
        Assert.Empty(h.Send(new CompleteLease("nope")));
        Assert.Equal((0, 1, 0), (h.State.Queue.Count, h.State.Outstanding.Count, h.State.Idle.Count));
    }

    [Fact]
    public void A_step_is_reported_before_its_commit_is_journaled_and_a_step_trained_meanwhile_waits_for_the_commit()
    {
        var h = new Harness(Options(total: 3, prompts: 2, lag: 1), leaseSize: 2);
        h.Send(new StartRun(null, 0, []));
        Assert.Equal([1L, 2L], h.State.Open.Keys);   // lag 1: two steps open
        h.Now = TimeSpan.FromSeconds(5);
        var decision = h.State.Process(Trained(1, "ckpt/1", TimeSpan.FromSeconds(7)));
        // One decision: the report (the metrics line, carried out first), then the commit (written after it).
        Assert.Equal(new ReportStep<string, string>(1, "trained 1", null, 2, 7, "ckpt/1"), Assert.Single(decision.Effects));
        Assert.Equal(new CheckpointCommitted(new RunCheckpoint(1, 2, 1, "ckpt/1")), Assert.Single(decision.Events));
        h.Send(Trained(1, "ckpt/1", TimeSpan.FromSeconds(7)));
        Assert.Equal(new CheckpointCommitted(new RunCheckpoint(1, 2, 1, "ckpt/1")), Assert.Single(h.InFlight));
        Assert.Empty(h.State.Journal.Checkpoints);   // not durable yet: not offered on a resume
        Assert.Empty(h.Send(Trained(2)));            // trained while step 1 commits: waits, and no step opens
        Assert.Empty(h.Send(new RecordEvaluation<string>(1, "late duplicate")));
        Assert.Equal(2, h.State.TrainedStep);
        h.Durable();
        var reports = h.Logged<ReportStep<string, string>>().ToList();
        Assert.Equal([1L, 2L], reports.Select(r => r.Step));
        Assert.Equal(new OpenStep(3, 4, 2), h.Log[^1]);
        Assert.Equal("ckpt/1", h.State.Journal.Latest!.Path);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void A_crash_at_any_point_leaves_every_step_up_to_the_resume_point_reported_once(int seed)
    {
        // The run file's side of a crash: a resume continues after the newest durable commit and rewrites only what
        // follows it, so every step up to that commit must have had its report (metrics line) before the commit was
        // written. Checked at every durable write (Harness.Durable) and here at a random crash point.
        var rng = new Random(seed);
        var options = Options(total: rng.Next(2, 9), prompts: rng.Next(1, 4), evalEvery: rng.Next(0, 3));
        var h = new Harness(options, leaseSize: 2, runSeed: seed);
        h.Send(new StartRun(null, 0, []));
        if (options.EvalEvery > 0) h.Send(new RecordEvaluation<string>(0, "warm"));
        h.Send(new OfferSampler<string>("s", "s"));
        var crashAt = rng.Next(1, (int)options.TotalSteps + 1);
        for (var step = 1L; step <= crashAt && h.Planned.ContainsKey(step); step++)
        {
            foreach (var lease in h.Planned[step]) { h.Send(new CompleteLease(lease.LeaseId)); h.Send(new OfferSampler<string>("s", "s")); }
            h.Send(Trained(step, rng.Next(0, 2) == 0 ? $"ckpt/{step}" : null));
            foreach (var e in h.Log.OfType<Evaluate>().Where(e => e.Step == step).ToList()) h.Send(new RecordEvaluation<string>(step, $"eval {step}"));
            while (h.InFlight.Count > 0 && rng.Next(0, 3) > 0) h.Durable();
        }
        h.CheckEveryStepUpToTheNewestCommitWasReported();
        var reported = h.Logged<ReportStep<string, string>>().Select(r => r.Step).ToList();
        Assert.Equal(reported.Distinct(), reported);   // each step once
    }

    [Fact]
    public void A_due_evaluation_holds_the_report_and_the_run_finishes_after_the_last_step()
    {
        var h = new Harness(Options(total: 2, prompts: 1, evalEvery: 0));
        h.Send(new StartRun(null, 0, []));   // eval-every 0: no warm-start evaluation, step 1 opens at once
        Assert.Equal(new OpenStep(1, 0, 0), h.Logged<OpenStep>().Single());
        Assert.Equal(new ReportStep<string, string>(1, "trained 1", null, 1, 0, null), h.Send(Trained(1))[0]);
        Assert.Equal([new Evaluate(2, 2)], h.Send(Trained(2)));   // the last step is always evaluated
        Assert.Empty(h.Send(new RecordEvaluation<string>(1, "wrong step")));
        Assert.False(h.State.Done);
        var done = h.Send(new RecordEvaluation<string>(2, "eval 2"));
        Assert.Equal([new ReportStep<string, string>(2, "trained 2", "eval 2", 2, 0, null), ReportFinished.Instance], done);
        Assert.True(h.State.Done);
    }

    [Fact]
    public void Resuming_from_an_older_checkpoint_than_the_newest_commit_recommits_it()
    {
        IRunEvent[] journal =
        [
            new CheckpointCommitted(new RunCheckpoint(2, 8, 2, "ckpt/2")),
            new CheckpointCommitted(new RunCheckpoint(4, 16, 4, "ckpt/4")),
        ];
        var h = new Harness(Options(total: 6, prompts: 4), journal: journal);
        Assert.Equal(["ckpt/4", "ckpt/2"], h.State.ResumeCandidates.Select(c => c.Path));
        var from = new RunCheckpoint(2, 8, 2, "ckpt/2");   // step 4's checkpoint did not load
        var effects = h.Send(new StartRun(from, 2, ["ckpt/4: corrupt"]));
        Assert.Equal<string>(["ckpt/4: corrupt"], Assert.IsType<ReportStarted>(effects[0]).Skipped);
        Assert.Equal(new OpenStep(3, 8, 2), effects[1]);
        Assert.Equal([new CheckpointCommitted(from)], h.InFlight);
        h.Durable();
        Assert.Equal([2L], h.State.Journal.Checkpoints.Select(c => c.Step));   // step 4 no longer describes this run
        Assert.Empty(h.Send(new StartRun(null, 0, [])));                       // a repeated load answer changes nothing
    }

    [Fact]
    public void A_report_for_a_step_not_open_is_ignored_and_a_failure_stops_the_run_once()
    {
        var h = new Harness(Options(total: 3, prompts: 2));
        Assert.Empty(h.Send(PollSamplers.Instance));   // not started: nobody is waited for
        h.Send(new StartRun(null, 0, []));
        Assert.Equal([WaitingForSamplers.Instance], h.Send(PollSamplers.Instance));
        Assert.Equal([new StepReportIgnored(2)], h.Send(Trained(2)));
        Assert.Equal([new ReportFailed("boom")], h.Send(new FailRun("boom")));
        Assert.Empty(h.Send(new FailRun("again")));
        Assert.Empty(h.Send(new OfferSampler<string>("late", "late")).OfType<GrantLease<string>>());   // no grants after the run stopped
        Assert.Empty(h.Send(PollSamplers.Instance));
        Assert.Throws<ArgumentException>(() => h.State.Process(new StepPlanned(9, [], TimeSpan.Zero)));
        Assert.Throws<ArgumentException>(() => S.Empty(Options(prompts: 0)));
    }
}
