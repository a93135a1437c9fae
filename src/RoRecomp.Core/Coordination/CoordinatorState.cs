using System.Collections.Immutable;

namespace RoRecomp.Core.Coordination;

/// <summary>
/// What processing one command decided: the state after it, the effects to carry out now, in order, and the journal
/// events to persist (in order; each is folded in with <see cref="CommitDurable"/> once durable). The effects are
/// carried out <b>before</b> the events are written: a step's <see cref="ReportStep{TTrained, TEval}"/> (its
/// metrics line) comes in the same decision as its <see cref="CheckpointCommitted"/>, so every step up to a durable
/// commit has its line written first, and a crash between the two re-runs the step instead of losing its line.
/// </summary>
public sealed record CoordinatorDecision<TSampler, TTrained, TEval>(
    CoordinatorState<TSampler, TTrained, TEval> State, ImmutableArray<IRunEvent> Events, ImmutableArray<ICoordinatorEffect> Effects)
    where TSampler : notnull
    where TTrained : notnull
    where TEval : class;

/// <summary>
/// The run coordinator's state as a pure model, after the petabridge ProductState pattern: <see cref="Process"/> takes a
/// command and decides the next state, the journal events and the effects (grant a lease, open a step, evaluate,
/// report...); the actor only carries them out. Samplers are opaque keys; timers and clocks stay in the actor (a grant
/// names its attempt number, commands carry the time).
/// <para>
/// Only <see cref="CheckpointCommitted"/> is journaled (<see cref="Journal"/>, a <see cref="RunState"/>); leases,
/// samplers and open steps live in memory and start afresh after a restart. A journaled event changes the state only
/// once durable (<see cref="CommitDurable"/>, or <see cref="Apply"/> on recovery). A step is reported once its
/// evaluation (when due) arrived and every earlier trained step was reported and its commit is durable; the commit of
/// the step's checkpoint is decided with its report (written after it, see <see cref="CoordinatorDecision{TSampler, TTrained, TEval}"/>),
/// and nothing later is reported or opened until that commit is durable. So every step up to the newest durable commit
/// was reported: a resume never starts after a step whose metrics line was not written.
/// </para>
/// </summary>
/// <typeparam name="TSampler">A sampler's key.</typeparam>
/// <typeparam name="TTrained">The learner's report of a trained step (carried into <see cref="ReportStep{TTrained, TEval}"/>).</typeparam>
/// <typeparam name="TEval">The evaluator's report.</typeparam>
public sealed record CoordinatorState<TSampler, TTrained, TEval>
    where TSampler : notnull
    where TTrained : notnull
    where TEval : class
{
    private CoordinatorState(CoordinatorOptions options) => Options = options.Validate();

    /// <summary>A coordinator that recovered nothing yet: waits for <see cref="StartRun"/>.</summary>
    public static CoordinatorState<TSampler, TTrained, TEval> Empty(CoordinatorOptions options) => new(options);

    /// <summary>The options the state was made with.</summary>
    public CoordinatorOptions Options { get; }

    /// <summary>The durable part: committed checkpoints.</summary>
    public RunState Journal { get; private init; } = RunState.Empty;

    /// <summary>The policy is loaded (<see cref="StartRun"/>): leases are granted from now on.</summary>
    public bool Started { get; private init; }

    /// <summary>The run finished or failed: no more leases or steps.</summary>
    public bool Done { get; private init; }

    /// <summary>Last step trained (0 before the first).</summary>
    public long TrainedStep { get; private init; }

    /// <summary>Data cursor after <see cref="TrainedStep"/>.</summary>
    public long TrainedCursor { get; private init; }

    /// <summary>Policy version after <see cref="TrainedStep"/>.</summary>
    public long PolicyVersion { get; private init; }

    /// <summary>The next step to open.</summary>
    public long NextStep { get; private init; }

    /// <summary>The data cursor of <see cref="NextStep"/>.</summary>
    public long NextCursor { get; private init; }

    /// <summary>Leases waiting for a sampler, first out first.</summary>
    public ImmutableList<WorkLease> Queue { get; private init; } = [];

    /// <summary>Granted, not completed leases by id.</summary>
    public ImmutableSortedDictionary<string, LeaseHold<TSampler>> Outstanding { get; private init; } = ImmutableSortedDictionary.Create<string, LeaseHold<TSampler>>(StringComparer.Ordinal);

    /// <summary>Samplers waiting for a lease, longest waiting first.</summary>
    public ImmutableList<TSampler> Idle { get; private init; } = [];

    /// <summary>Samplers that joined and did not stop.</summary>
    public ImmutableHashSet<TSampler> Samplers { get; private init; } = [];

    /// <summary>Open (planned, not trained) steps.</summary>
    public ImmutableSortedDictionary<long, OpenedStep> Open { get; private init; } = ImmutableSortedDictionary<long, OpenedStep>.Empty;

    /// <summary>Trained steps not reported yet, oldest first.</summary>
    public ImmutableList<PendingReport<TTrained>> Pending { get; private init; } = [];

    /// <summary>Grants so far: a grant's attempt number, so a stale timeout is told from a live one.</summary>
    public int Attempts { get; private init; }

    /// <summary>The checkpoints a (re)started run offers the learner: newest first, durable ones only.</summary>
    public ImmutableArray<RunCheckpoint> ResumeCandidates => [.. Journal.Checkpoints.Reverse()];

    /// <summary>Folds a durable journal event in (recovery). Folding a journal from <see cref="Empty"/> rebuilds the durable part.</summary>
    public CoordinatorState<TSampler, TTrained, TEval> Apply(IRunEvent e) => this with { Journal = Journal.Apply(e) };

    /// <summary>Folds durable journal events in, in order.</summary>
    public CoordinatorState<TSampler, TTrained, TEval> ApplyAll(IEnumerable<IRunEvent> events) => events.Aggregate(this, (s, e) => s.Apply(e));

    /// <summary>Decides what a command leads to. Does not change this state.</summary>
    public CoordinatorDecision<TSampler, TTrained, TEval> Process(ICoordinatorCommand command)
    {
        var d = new Decider(this);
        switch (command)
        {
            case StartRun m: d.Start(m); break;
            case OfferSampler<TSampler> m: d.Offer(m); break;
            case DropSampler<TSampler> m: d.Drop(m.Sampler); break;
            case StepPlanned m: d.Planned(m); break;
            case CompleteLease m: d.CompleteLease(m.LeaseId); break;
            case ExpireLease m: d.Expire(m); break;
            case CompleteStep<TTrained> m: d.Trained(m); break;
            case CommitDurable m: d.Durable(m.Event); break;
            case RecordEvaluation<TEval> m: d.Evaluated(m); break;
            case FailRun m: d.Fail(m.Reason); break;
            case PollSamplers: d.Poll(); break;
            default: throw new ArgumentException($"unknown coordinator command {command.GetType().Name}", nameof(command));
        }
        return new(d.S, d.Events.ToImmutable(), d.Effects.ToImmutable());
    }

    /// <summary>One command's decision in the making: the state so far, and the events and effects decided so far.</summary>
    private sealed class Decider(CoordinatorState<TSampler, TTrained, TEval> state)
    {
        public CoordinatorState<TSampler, TTrained, TEval> S = state;
        public readonly ImmutableArray<IRunEvent>.Builder Events = ImmutableArray.CreateBuilder<IRunEvent>();
        public readonly ImmutableArray<ICoordinatorEffect>.Builder Effects = ImmutableArray.CreateBuilder<ICoordinatorEffect>();

        private CoordinatorOptions O => S.Options;

        public void Start(StartRun m)
        {
            if (S.Started) return;   // the learner loads once; a repeated answer changes nothing
            var step = m.From?.Step ?? 0;
            var cursor = m.From?.Cursor ?? 0;
            S = S with { Started = true, TrainedStep = step, TrainedCursor = cursor, PolicyVersion = m.PolicyVersion, NextStep = step + 1, NextCursor = cursor };
            Effects.Add(new ReportStarted(m.From, m.PolicyVersion, m.Skipped.IsDefault ? [] : m.Skipped));
            // Newer commits did not load: commit the one we continue from, so the journal describes this run again.
            if (m.From is { } from && !from.Equals(S.Journal.Latest)) Events.Add(new CheckpointCommitted(from));
            if (step == 0 && O.EvalEvery > 0) Effects.Add(new Evaluate(0, m.PolicyVersion));
            else Continue();
        }

        public void Offer(OfferSampler<TSampler> m)
        {
            if (!S.Idle.Contains(m.Sampler)) S = S with { Idle = S.Idle.Add(m.Sampler) };
            if (!S.Samplers.Contains(m.Sampler))
            {
                S = S with { Samplers = S.Samplers.Add(m.Sampler) };
                Effects.Add(new SamplerJoined<TSampler>(m.Sampler, m.Name, S.Samplers.Count));
            }
            Dispatch();
        }

        public void Drop(TSampler sampler)
        {
            S = S with { Idle = S.Idle.Remove(sampler) };
            if (S.Samplers.Contains(sampler))
            {
                S = S with { Samplers = S.Samplers.Remove(sampler) };
                Effects.Add(new SamplerLeft<TSampler>(sampler, S.Samplers.Count));
            }
            foreach (var (id, hold) in S.Outstanding.Where(kv => EqualityComparer<TSampler>.Default.Equals(kv.Value.Sampler, sampler)).ToList())
            {
                Effects.Add(new LeaseReissued<TSampler>(id, sampler, ReissueReason.SamplerStopped));
                Effects.Add(new CancelLeaseTimeout(id));
                S = S with { Outstanding = S.Outstanding.Remove(id), Queue = S.Queue.Add(hold.Lease) };
            }
            Dispatch();
        }

        public void Planned(StepPlanned m)
        {
            if (m.Step >= S.NextStep || m.Step <= S.TrainedStep || S.Open.ContainsKey(m.Step))
                throw new ArgumentException($"step {m.Step} was planned but not opened (next {S.NextStep}, trained {S.TrainedStep})", nameof(m));
            // Steps open in order, each PromptsPerStep past the one before.
            var cursor = S.NextCursor - ((S.NextStep - m.Step) * O.PromptsPerStep);
            if (m.Leases.IsDefaultOrEmpty || m.Leases.Any(l => l.Step != m.Step) || m.Leases[0].PromptIndices.FirstOrDefault() != cursor)
                throw new ArgumentException($"the leases planned for step {m.Step} are empty, of another step or do not start at cursor {cursor}", nameof(m));
            S = S with { Open = S.Open.Add(m.Step, new OpenedStep(cursor, m.At)), Queue = S.Queue.AddRange(m.Leases) };
            Dispatch();
        }

        public void CompleteLease(string leaseId)
        {
            if (!S.Outstanding.ContainsKey(leaseId)) return;
            S = S with { Outstanding = S.Outstanding.Remove(leaseId) };
            Effects.Add(new CancelLeaseTimeout(leaseId));
        }

        public void Expire(ExpireLease m)
        {
            if (!S.Outstanding.TryGetValue(m.LeaseId, out var hold) || hold.Attempt != m.Attempt) return;
            Effects.Add(new LeaseReissued<TSampler>(m.LeaseId, hold.Sampler, ReissueReason.TimedOut));
            S = S with { Outstanding = S.Outstanding.Remove(m.LeaseId), Queue = S.Queue.Add(hold.Lease) };
            Dispatch();
        }

        public void Trained(CompleteStep<TTrained> m)
        {
            if (!S.Open.TryGetValue(m.Step, out var open))
            {
                Effects.Add(new StepReportIgnored(m.Step));
                return;
            }
            var cursor = open.Cursor + O.PromptsPerStep;
            var evalDue = (O.EvalEvery > 0 && m.Step % O.EvalEvery == 0) || m.Step >= O.TotalSteps;
            var pending = new PendingReport<TTrained>(m.Step, m.Trained, cursor, m.PolicyVersion, (m.At - open.At).TotalSeconds,
                m.CheckpointPath, Reported: false, evalDue, EvalRequested: false);
            S = S with
            {
                Open = S.Open.Remove(m.Step),
                TrainedStep = m.Step,
                TrainedCursor = cursor,
                PolicyVersion = m.PolicyVersion,
                Pending = S.Pending.Add(pending),
            };
            Flush();
        }

        public void Durable(IRunEvent e)
        {
            S = S.Apply(e);
            if (e is not CheckpointCommitted c) return;
            if (S.Pending.IsEmpty || S.Pending[0] is not { Reported: true } head || head.Step != c.Checkpoint.Step || head.Checkpoint != c.Checkpoint.Path)
                return;   // the re-commit of the checkpoint the run continues from: no step waits for it
            S = S with { Pending = S.Pending.RemoveAt(0) };
            Flush();
        }

        public void Evaluated(RecordEvaluation<TEval> m)
        {
            var awaiting = S.Pending.IsEmpty ? null : S.Pending[0] is { EvalRequested: true, Reported: false } head ? head : null;
            if (m.Step == 0 && awaiting is null)
            {
                Effects.Add(new ReportBaseline<TEval>(m.Evaluation));
                Continue();
                return;
            }
            if (awaiting is null || awaiting.Step != m.Step) return;
            Report(awaiting, m.Evaluation);
            Flush();
        }

        public void Fail(string reason)
        {
            if (S.Done) return;
            S = S with { Done = true };
            Effects.Add(new ReportFailed(reason));
        }

        public void Poll()
        {
            if (S.Started && !S.Done && S.Samplers.IsEmpty && !S.Queue.IsEmpty) Effects.Add(WaitingForSamplers.Instance);
        }

        /// <summary>
        /// Reports trained steps in order while the oldest is evaluated (when due) and no earlier commit is being written;
        /// continues the run once none waits.
        /// </summary>
        private void Flush()
        {
            while (!S.Pending.IsEmpty)
            {
                var head = S.Pending[0];
                if (head.Reported) return;   // its checkpoint's commit is being written
                if (head.EvalDue)
                {
                    if (!head.EvalRequested)
                    {
                        S = S with { Pending = S.Pending.SetItem(0, head with { EvalRequested = true }) };
                        Effects.Add(new Evaluate(head.Step, head.PolicyVersion));
                    }
                    return;
                }
                Report(head, null);
            }
            Continue();
        }

        /// <summary>
        /// Reports the oldest pending step; a step with a checkpoint stays (as reported) until the commit decided here,
        /// written after the report, is durable.
        /// </summary>
        private void Report(PendingReport<TTrained> p, TEval? evaluation)
        {
            Effects.Add(new ReportStep<TTrained, TEval>(p.Step, p.Trained, evaluation, p.Cursor, p.Seconds, p.Checkpoint));
            if (p.Checkpoint is { } path)
            {
                S = S with { Pending = S.Pending.SetItem(0, p with { Reported = true }) };
                Events.Add(new CheckpointCommitted(new RunCheckpoint(p.Step, p.Cursor, p.PolicyVersion, path)));
            }
            else
            {
                S = S with { Pending = S.Pending.RemoveAt(0) };
            }
        }

        /// <summary>Finishes the run, or opens the steps the policy lag allows and grants what waits.</summary>
        private void Continue()
        {
            if (S.Done || !S.Started || !S.Pending.IsEmpty) return;
            if (S.TrainedStep >= O.TotalSteps)
            {
                S = S with { Done = true };
                Effects.Add(ReportFinished.Instance);
                return;
            }
            while (S.NextStep <= O.TotalSteps && S.NextStep <= S.TrainedStep + 1 + O.MaxPolicyLag)
            {
                Effects.Add(new OpenStep(S.NextStep, S.NextCursor, S.PolicyVersion));
                S = S with { NextStep = S.NextStep + 1, NextCursor = S.NextCursor + O.PromptsPerStep };
            }
            Dispatch();
        }

        /// <summary>Grants queued leases to idle samplers, first come first served.</summary>
        private void Dispatch()
        {
            if (!S.Started || S.Done) return;
            while (!S.Queue.IsEmpty && !S.Idle.IsEmpty)
            {
                var lease = S.Queue[0];
                var sampler = S.Idle[0];
                var attempt = S.Attempts + 1;
                S = S with
                {
                    Queue = S.Queue.RemoveAt(0),
                    Idle = S.Idle.RemoveAt(0),
                    Attempts = attempt,
                    Outstanding = S.Outstanding.SetItem(lease.LeaseId, new LeaseHold<TSampler>(lease, sampler, attempt)),
                };
                Effects.Add(new GrantLease<TSampler>(sampler, lease, attempt));
            }
        }
    }
}
