using RoRecomp.Actors.Coordination;
using RoRecomp.Actors.Hosting;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.Tests.ReplayBuffer;
using RoRecomp.Core.Coordination;
using RoRecomp.Settings;
using RoRecomp.Training;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Steps;

namespace RoRecomp.Actors.Tests.Pipeline;

/// <summary>Which samplers the run coordinator admits (the run fingerprint), and what it says when none is left.</summary>
public sealed class CoordinatorAdmissionTests : Akka.TestKit.Xunit2.TestKit
{
    private readonly string _dir;
    private readonly string _warm;

    public CoordinatorAdmissionTests()
        : this(Directory.CreateTempSubdirectory("rorecomp-admit-").FullName)
    {
    }

    private CoordinatorAdmissionTests(string dir)
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

    [Fact]
    public void A_sampler_of_another_run_is_refused_naming_the_keys_and_the_last_sampler_leaving_is_not_none_joined()
    {
        var context = PipelineFixture.Context(_dir, _warm, 4);
        var learner = CreateTestProbe();
        var evaluator = CreateTestProbe();
        var recomposer = CreateTestProbe();
        var reporter = new Notices();
        var coordinator = Sys.ActorOf(RunCoordinatorActor.Props(context, reporter, recomposer, learner, evaluator));
        learner.ExpectMsg<LoadPolicy>(TimeSpan.FromSeconds(30));
        learner.Reply(new PolicyLoaded(null, 0, []));
        evaluator.ExpectMsg<EvaluatePolicy>();
        evaluator.Reply(new PolicyEvaluated(new HeldOutEvaluation(0, 0.5, 40, 0, 1, 8)));
        recomposer.ExpectMsg<StepOpened>();

        coordinator.Tell(PollSamplers.Instance);
        AwaitAssert(() => Assert.Contains(reporter.Lines, l => l.Contains("none has joined yet", StringComparison.Ordinal)));

        var run = context.Settings.Fingerprint!;
        var other = SettingsLoader.Load(null, [.. PipelineFixture.Sets(_dir, _warm, "sampling.top-k=5")]).Fingerprint!;
        var stranger = CreateTestProbe();
        coordinator.Tell(new RequestWork("stranger", other.Text), stranger);
        var refused = stranger.ExpectMsg<WorkRefused>();
        Assert.Equal(run.Text, refused.RunKeys);
        Assert.Equal(["sampling.top-k: node 5, learner 0"], other.Differences(new RunFingerprint(refused.RunKeys), "node", "learner"));
        AwaitAssert(() => Assert.Contains(reporter.Lines, l => l.Contains("refused sampler stranger", StringComparison.Ordinal)));

        var member = CreateTestProbe();
        coordinator.Tell(new RequestWork("member", run.Text), member);
        member.ExpectMsg<LeaseGranted>();
        Sys.Stop(member.Ref);
        AwaitAssert(() => Assert.Contains(reporter.Lines, l => l.Contains("sampler left", StringComparison.Ordinal)));
        coordinator.Tell(PollSamplers.Instance);
        AwaitAssert(() => Assert.Contains(reporter.Lines, l => l.Contains("every sampler has left", StringComparison.Ordinal)));
    }

    private sealed class Notices : IRunReporter
    {
        private readonly List<string> _lines = [];

        public IReadOnlyList<string> Lines
        {
            get
            {
                lock (_lines) return [.. _lines];
            }
        }

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
            lock (_lines) _lines.Add(message);
        }

        public void Finished()
        {
        }

        public void Failed(string reason)
        {
        }
    }
}
