using System.Collections.Immutable;
using RoRecomp.Settings;
using Akka.Actor;
using Akka.TestKit;
using RoRecomp.Actors.Coordination;
using RoRecomp.Training.Runs;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.Evaluation;
using RoRecomp.Actors.Learning;
using RoRecomp.Training.Steps;
using RoRecomp.Training;
using RoRecomp.Actors.Runners;
using RoRecomp.Actors.Hosting;
using RoRecomp.Actors.Recomposition;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Sampling;
using RoRecomp.Actors.Tests.ReplayBuffer;
using RoRecomp.Actors.Verification;
using RoRecomp.Core.Rewards;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;
using RoRecomp.Core.Training;
using RoRecomp.Tasks;

namespace RoRecomp.Actors.Tests.Pipeline;

/// <summary>Each pipeline actor's protocol, against probes (TestKit), on SQLite persistence.</summary>
public sealed class PipelineActorTests : Akka.TestKit.Xunit2.TestKit
{
    private readonly string _dir;
    private readonly string _warm;

    public PipelineActorTests()
        : this(Directory.CreateTempSubdirectory("rorecomp-pipe-").FullName)
    {
    }

    private PipelineActorTests(string dir)
        : base(ReplayBufferActorTests.SystemConfig(dir).WithFallback(PipelineHocon.Config))
    {
        _dir = dir;
        _warm = PipelineFixture.WarmStart(Path.Combine(dir, "warm"));
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        TestDirs.Delete(_dir);
    }

    private RunContext Context(params string[] more) => PipelineFixture.Context(_dir, _warm, 4, more);

    private static Response Unverified(IRlTask task, TaskPrompt prompt, string text, int sample, long step = 1)
    {
        var tok = EpisodeRunnerTokenizer(task);
        var tokens = tok.Encode(text);
        return new Response(WorkLeases.ResponseId(step, prompt.Id, sample), prompt.Id, sample, step, 0,
            [.. tok.Encode(prompt.Text)], [.. tokens], [.. new float[tokens.Length]]);
    }

    private static RoRecomp.Model.Tokenizers.ITokenizer EpisodeRunnerTokenizer(IRlTask task) => RunContext.Tokenizer(task);

    [Fact]
    public void Verifier_scores_each_response_with_the_tasks_verifier()
    {
        var context = Context();
        var task = context.CreateTask();
        var prompt = task.GetPrompt(Split.Train, 3);
        var good = task.Trace(prompt, new Random(1));
        var recomposer = CreateTestProbe();
        var verifier = Sys.ActorOf(VerifierActor.Props(context, recomposer));
        var group = new RolloutGroup(prompt.Id, 1, [Unverified(task, prompt, good, 0), Unverified(task, prompt, "<think>1+1=3;</think>", 1)]);
        verifier.Tell(new VerifyRollouts("s000001-l000", 1, [group]));
        var scored = recomposer.ExpectMsg<RolloutsScored>();
        Assert.Equal("s000001-l000", scored.LeaseId);
        var rs = scored.Groups.Single().Responses;
        Assert.Equal(task.Verify(prompt, good).Correct, rs[0].Correct);
        Assert.Equal(rs[0].Correct ? 1.0 : 0.0, rs[0].Reward);
        Assert.False(rs[1].Correct);
        Assert.False(rs[1].FormatValid);
        Assert.Equal(0, rs[1].Reward);
    }

    [Fact]
    public void Verifier_with_a_length_penalty_shapes_only_the_reward_of_correct_responses()
    {
        // max-new-tokens 24 (PipelineFixture), coefficient 0.5, 4 tokens free.
        var context = Context("reward.length-penalty=0.5", "reward.target-length=4");
        var task = context.CreateTask();
        var prompt = task.GetPrompt(Split.Train, 3);
        var rng = new Random(1);
        var good = Enumerable.Range(0, 50).Select(_ => task.Trace(prompt, rng)).First(t => task.Verify(prompt, t).Correct);
        var recomposer = CreateTestProbe();
        var verifier = Sys.ActorOf(VerifierActor.Props(context, recomposer));
        var group = new RolloutGroup(prompt.Id, 1, [Unverified(task, prompt, good, 0), Unverified(task, prompt, "<think>1+1=3;</think>", 1)]);
        verifier.Tell(new VerifyRollouts("s000001-l000", 1, [group]));
        var rs = recomposer.ExpectMsg<RolloutsScored>().Groups.Single().Responses;
        Assert.True(rs[0].Correct);   // the verdict is untouched
        Assert.Equal(1 - (0.5 * Math.Min(1, Math.Max(0, rs[0].Length - 4) / 24.0)), rs[0].Reward, 12);
        Assert.True(rs[0].Reward < 1);
        Assert.False(rs[1].Correct);
        Assert.Equal(0, rs[1].Reward);   // incorrect responses keep the verifier's reward
    }

    [Fact]
    public void Recomposer_waits_for_every_prompt_ignores_duplicates_and_stores_before_training()
    {
        var context = Context();
        var task = context.CreateTask();
        var prompts = new[] { task.GetPrompt(Split.Train, 0), task.GetPrompt(Split.Train, 1) };
        var buffer = CreateTestProbe();
        var learner = CreateTestProbe();
        var coordinator = CreateTestProbe();
        var recomposer = Sys.ActorOf(RecomposerActor.Props(context, buffer, learner));
        recomposer.Tell(new StepOpened(1, 0, [.. prompts.Select(p => p.Id)]), coordinator);

        RolloutGroup Group(TaskPrompt p, int correct) => new(p.Id, 1, [.. Enumerable.Range(0, 4).Select(j =>
            Unverified(task, p, new string('1', 3 + j), j) with { Correct = j < correct, Reward = j < correct ? 1 : 0 })]);

        recomposer.Tell(new RolloutsScored("s000001-l000", 1, [Group(prompts[0], 2)]));
        coordinator.ExpectMsg(new LeaseCompleted("s000001-l000", 1));
        recomposer.Tell(new RolloutsScored("s000001-l000", 1, [Group(prompts[0], 4)]));   // a re-issued lease's late copy
        coordinator.ExpectMsg(new LeaseCompleted("s000001-l000", 1));
        buffer.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        learner.ExpectNoMsg(TimeSpan.Zero);

        recomposer.Tell(new RolloutsScored("s000001-l001", 1, [Group(prompts[1], 1)]));
        coordinator.ExpectMsg(new LeaseCompleted("s000001-l001", 1));
        var store = buffer.ExpectMsg<StoreResponses>();
        learner.ExpectNoMsg(TimeSpan.FromMilliseconds(200));   // not before the buffer acknowledged
        buffer.Reply(new ResponsesAccepted(store.Responses.Length, 0, 0));
        var train = learner.ExpectMsg<TrainOnStep>();
        Assert.Equal(BatchKind.Priority, train.Priority.Kind);
        Assert.Equal(8, train.Priority.Count + store.Responses.Length);
        Assert.Equal(8, train.Online.Responses);
        Assert.Equal(3.0 / 8, train.Online.Accuracy);   // the first copy of prompt 0 counted, not the duplicate
        var ids = train.Priority.Samples.Select(s => s.Response.Id).Concat(store.Responses.Select(r => r.Id)).ToList();
        Assert.Equal(8, ids.Distinct().Count());
    }

    [Fact]
    public void Recomposition_off_trains_on_the_whole_online_batch_and_stores_nothing()
    {
        var context = Context("recomposition.enabled=off");
        var task = context.CreateTask();
        var p = task.GetPrompt(Split.Train, 0);
        var buffer = CreateTestProbe();
        var learner = CreateTestProbe();
        var recomposer = Sys.ActorOf(RecomposerActor.Props(context, buffer, learner));
        recomposer.Tell(new StepOpened(1, 0, [p.Id]), CreateTestProbe());
        recomposer.Tell(new RolloutsScored("l", 1, [new RolloutGroup(p.Id, 1, [.. Enumerable.Range(0, 4).Select(j => Unverified(task, p, "12;", j) with { Correct = j == 0, Reward = j == 0 ? 1 : 0 })])]));
        var train = learner.ExpectMsg<TrainOnStep>();
        Assert.Equal(BatchKind.Online, train.Priority.Kind);
        Assert.Equal(4, train.Priority.Count);
        buffer.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void Coordinator_leases_to_pulling_samplers_and_reissues_a_dead_samplers_lease()
    {
        var context = Context("run.lease-timeout=2");
        var learner = CreateTestProbe();
        var evaluator = CreateTestProbe();
        var recomposer = CreateTestProbe();
        var reporter = new FakeReporter();
        var coordinator = Sys.ActorOf(RunCoordinatorActor.Props(context, reporter, recomposer, learner, evaluator));
        var load = learner.ExpectMsg<LoadPolicy>(TimeSpan.FromSeconds(30));
        Assert.Empty(load.Candidates);
        var a = CreateTestProbe();
        var b = CreateTestProbe();
        coordinator.Tell(new RequestWork("a"), a);   // before the policy is loaded: it waits
        a.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        learner.Reply(new PolicyLoaded(null, 0, []));
        evaluator.ExpectMsg(new EvaluatePolicy(0, 0));
        evaluator.Reply(new PolicyEvaluated(new HeldOutEvaluation(0, 0.5, 40, 0, 1, 8)));
        var opened = recomposer.ExpectMsg<StepOpened>();
        Assert.Equal(1, opened.Step);
        Assert.Equal(4, opened.PromptIds.Length);
        var first = a.ExpectMsg<LeaseGranted>().Lease;
        coordinator.Tell(new RequestWork("b"), b);
        var second = b.ExpectMsg<LeaseGranted>().Lease;
        Assert.Equal(opened.PromptIds.Length, first.PromptIndices.Length + second.PromptIndices.Length);

        // b finishes; a dies holding its lease: b gets a's lease when it asks again.
        coordinator.Tell(new LeaseCompleted(second.LeaseId, 1), recomposer);
        coordinator.Tell(new RequestWork("b"), b);
        Sys.Stop(a.Ref);
        Assert.Equal(first.LeaseId, b.ExpectMsg<LeaseGranted>(TimeSpan.FromSeconds(10)).Lease.LeaseId);

        // b sits on it past the lease timeout: it is re-issued (to b again, the only sampler asking).
        coordinator.Tell(new RequestWork("b"), b);
        Assert.Equal(first.LeaseId, b.ExpectMsg<LeaseGranted>(TimeSpan.FromSeconds(10)).Lease.LeaseId);
        coordinator.Tell(new LeaseCompleted(first.LeaseId, 1), recomposer);

        // The learner reports step 1 with a checkpoint: committed, reported; step 2 opens.
        var metrics = new RoRecomp.Core.Metrics.StepMetrics(1, 1, 16, 0.5, 30, 25, 0, 1, 8, 0, 4, 4, 8);
        coordinator.Tell(new StepTrained(metrics, new LearnerMetrics(0, 0, 0, 0, 0, 0, 0, 0, 0), "/ckpt/step-000001"), learner);
        Assert.Equal(2, recomposer.ExpectMsg<StepOpened>().Step);
        AwaitAssert(() => Assert.Single(reporter.Steps));
        Assert.Equal(4, reporter.Steps[0].Cursor);
        coordinator.Tell(GetRunStatus.Instance);
        var status = ExpectMsg<RunStatus>();
        Assert.Equal(new RunCheckpoint(1, 4, 1, "/ckpt/step-000001"), status.Checkpoints.Single());

        // A new coordinator on the same journal offers that checkpoint to the learner.
        Watch(coordinator);
        Sys.Stop(coordinator);
        ExpectTerminated(coordinator);
        Sys.ActorOf(RunCoordinatorActor.Props(context, new FakeReporter(), recomposer, learner, evaluator));
        Assert.Equal("/ckpt/step-000001", learner.ExpectMsg<LoadPolicy>(TimeSpan.FromSeconds(30)).Candidates.Single().Path);
    }

    [Fact]
    public void Learner_publishes_weights_trains_a_step_and_writes_a_checkpoint_the_sampler_samples_a_lease_and_the_evaluator_evaluates()
    {
        var context = Context("checkpoint.every=1");
        var buffer = CreateTestProbe();
        var publisher = Sys.ActorOf(PolicyPublisherActor.Props(context.Settings.Cluster));
        var learner = Sys.ActorOf(LearnerActor.Props(context, buffer, publisher));
        learner.Tell(new LoadPolicy([], 4));
        var loaded = ExpectMsg<PolicyLoaded>(TimeSpan.FromSeconds(30));
        Assert.Null(loaded.From);
        Assert.Equal(0, loaded.PolicyVersion);

        // A sampler with a lease of policy v0 fetches the weights and sends the groups to the verifier.
        var verifier = CreateTestProbe();
        var lease = WorkLeases.Plan(1, 0, 2, 2, 3, 0, 1).Single();
        var sampler = Sys.ActorOf(SamplerActor.Props(context, "s", TestActor, publisher, verifier));
        ExpectMsg<RequestWork>();
        sampler.Tell(new LeaseGranted(lease, "thinking"));
        var sampled = verifier.ExpectMsg<VerifyRollouts>(TimeSpan.FromSeconds(30));
        ExpectMsg<RequestWork>(TimeSpan.FromSeconds(30));   // and asks for more
        Assert.Equal(lease.LeaseId, sampled.LeaseId);
        Assert.Equal(2, sampled.Groups.Length);
        Assert.All(sampled.Groups, g => Assert.Equal(3, g.Responses.Length));
        Assert.All(sampled.Groups.SelectMany(g => g.Responses), r =>
        {
            Assert.Equal(r.Tokens.Length, r.LogProbs.Length);
            Assert.InRange(r.Tokens.Length, 1, 24);
            Assert.Equal(0, r.PolicyVersion);
        });

        // The same lease sampled again gives the same responses (seeded): a re-issued or re-run lease is idempotent.
        sampler.Tell(new LeaseGranted(lease, "thinking"));
        var again = verifier.ExpectMsg<VerifyRollouts>(TimeSpan.FromSeconds(30));
        ExpectMsg<RequestWork>(TimeSpan.FromSeconds(30));
        Assert.Equal(sampled.Groups.SelectMany(g => g.Responses).Select(r => string.Join(",", r.Tokens)),
            again.Groups.SelectMany(g => g.Responses).Select(r => string.Join(",", r.Tokens)));

        // Train step 1 on a priority batch: the learner draws compensation, reads the buffer size, checkpoints, reports.
        var responses = sampled.Groups.SelectMany(g => g.Responses).Select((r, i) => r with { Correct = i % 2 == 0, Reward = i % 2 == 0 ? 1 : 0 }).ToList();
        var batch = new TrainingBatch(BatchKind.Priority, [.. responses.Select((r, i) => new TrainSample(r, r.Correct ? 1.0 : -1.0))]);
        var online = new RoRecomp.Core.Metrics.StepMetrics(1, 0, 6, 0.5, 10, 10, 0, 1, 6, 0, 3, 3, 0);
        learner.Tell(new TrainOnStep(batch, online));
        var draw = buffer.ExpectMsg<DrawCompensationBatch>(TimeSpan.FromSeconds(30));
        Assert.Equal((6, 0L, 1L), (draw.Size, draw.CurrentPolicyVersion, draw.Step));
        buffer.Reply(new CompensationDrawn([.. responses], 0));
        buffer.ExpectMsg<GetBufferStats>(TimeSpan.FromSeconds(30));
        buffer.Reply(new BufferStats(5, [], 3));
        var trained = ExpectMsg<StepTrained>(TimeSpan.FromSeconds(30));
        Assert.Equal(1, trained.Online.PolicyVersion);
        Assert.Equal(6, trained.Online.CompensationSize);
        Assert.Equal(5, trained.Online.BufferSize);
        Assert.NotEqual(0, trained.Learner.Loss);
        Assert.True(Directory.Exists(trained.CheckpointPath), trained.CheckpointPath);

        // The sampler now needs v1 for a step-2 lease: it fetches the trained weights; sampling changes.
        var lease2 = WorkLeases.Plan(2, 0, 2, 2, 3, 1, 1).Single() with { Seed = lease.Seed };
        sampler.Tell(new LeaseGranted(lease2, "thinking"));
        var after = verifier.ExpectMsg<VerifyRollouts>(TimeSpan.FromSeconds(30));
        ExpectMsg<RequestWork>(TimeSpan.FromSeconds(30));
        Assert.All(after.Groups.SelectMany(g => g.Responses), r => Assert.Equal(1, r.PolicyVersion));
        Assert.NotEqual(
            sampled.Groups.SelectMany(g => g.Responses).SelectMany(r => r.LogProbs),
            after.Groups.SelectMany(g => g.Responses).SelectMany(r => r.LogProbs));

        // Held-out evaluation answers with the configured number of prompts.
        var evaluator = Sys.ActorOf(EvaluatorActor.Props(context, publisher));
        evaluator.Tell(new EvaluatePolicy(1, 1));
        var eval = ExpectMsg<PolicyEvaluated>(TimeSpan.FromSeconds(30)).Evaluation;
        Assert.Equal(1, eval.Step);
        Assert.Equal(8, eval.Responses);
        Assert.InRange(eval.MeanLength, 1, 24);

        // A new learner continues from the checkpoint (model + optimizer): version 1.
        var resumed = Sys.ActorOf(LearnerActor.Props(context, buffer, publisher));
        resumed.Tell(new LoadPolicy([new RunCheckpoint(1, 2, 1, trained.CheckpointPath!)], 4));
        var reloaded = ExpectMsg<PolicyLoaded>(TimeSpan.FromSeconds(30));
        Assert.Equal(1, reloaded.PolicyVersion);
        Assert.Equal(1, reloaded.From!.Step);
    }

    [Fact]
    public void Learner_skips_a_corrupt_checkpoint_and_one_outside_the_run_and_refuses_when_none_loads()
    {
        var context = Context();
        var bad = Path.Combine(context.CheckpointDirectory, "step-000002");
        Directory.CreateDirectory(bad);
        File.WriteAllText(Path.Combine(bad, "manifest.json"), "{}");
        var foreign = _warm;   // a valid checkpoint, but not this run's: a path from a message is not trusted
        var learner = Sys.ActorOf(LearnerActor.Props(context, CreateTestProbe(), CreateTestProbe()));
        learner.Tell(new LoadPolicy([new RunCheckpoint(4, 16, 4, foreign), new RunCheckpoint(2, 8, 2, bad)], 4));
        var failed = ExpectMsg<RunFailed>(TimeSpan.FromSeconds(30));
        Assert.Contains("no committed checkpoint of this run loads", failed.Reason);
        Assert.Contains("step-000002", failed.Reason);
        Assert.Contains("not inside this run's checkpoint folder", failed.Reason);
    }

    [Fact]
    public void A_sampler_of_another_run_is_refused_naming_the_keys_and_the_last_sampler_leaving_is_not_none_joined()
    {
        var context = Context();
        var learner = CreateTestProbe();
        var evaluator = CreateTestProbe();
        var recomposer = CreateTestProbe();
        var reporter = new FakeReporter();
        var coordinator = Sys.ActorOf(RunCoordinatorActor.Props(context, reporter, recomposer, learner, evaluator));
        learner.ExpectMsg<LoadPolicy>(TimeSpan.FromSeconds(30));
        learner.Reply(new PolicyLoaded(null, 0, []));
        evaluator.ExpectMsg<EvaluatePolicy>();
        evaluator.Reply(new PolicyEvaluated(new HeldOutEvaluation(0, 0.5, 40, 0, 1, 8)));
        recomposer.ExpectMsg<StepOpened>();

        coordinator.Tell(PollSamplers.Instance, TestActor);
        AwaitAssert(() => Assert.Contains(reporter.Notices, l => l.Contains("none has joined yet", StringComparison.Ordinal)));

        var run = context.Settings.Fingerprint!;
        var other = SettingsLoader.Load(null, [.. PipelineFixture.Sets(_dir, _warm, "sampling.top-k=5")]).Fingerprint!;
        var stranger = CreateTestProbe();
        coordinator.Tell(new RequestWork("stranger", other.Text), stranger);
        var refused = stranger.ExpectMsg<WorkRefused>();
        Assert.Equal(run.Text, refused.RunKeys);
        Assert.Equal(["sampling.top-k: node 5, learner 0"], other.Differences(new RunFingerprint(refused.RunKeys), "node", "learner"));
        AwaitAssert(() => Assert.Contains(reporter.Notices, l => l.Contains("refused sampler stranger", StringComparison.Ordinal)));

        var member = CreateTestProbe();
        coordinator.Tell(new RequestWork("member", run.Text), member);
        member.ExpectMsg<LeaseGranted>();
        Sys.Stop(member.Ref);
        AwaitAssert(() => Assert.Contains(reporter.Notices, l => l.Contains("sampler left", StringComparison.Ordinal)));
        coordinator.Tell(PollSamplers.Instance, TestActor);
        AwaitAssert(() => Assert.Contains(reporter.Notices, l => l.Contains("every sampler has left", StringComparison.Ordinal)));
    }

    private sealed class FakeReporter : IRunReporter
    {
        public List<StepRecord> Steps { get; } = [];

        public System.Collections.Concurrent.ConcurrentQueue<string> Notices { get; } = new();

        public void Started(RunStart start)
        {
        }

        public void Baseline(HeldOutEvaluation evaluation)
        {
        }

        public void StepCompleted(StepRecord record) => Steps.Add(record);

        public void Notice(string message) => Notices.Enqueue(message);

        public void Finished()
        {
        }

        public void Failed(string reason)
        {
        }
    }
}
