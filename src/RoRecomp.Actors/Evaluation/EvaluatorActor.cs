using Akka.Actor;
using Akka.Event;
using RoRecomp.Actors.Hosting;
using RoRecomp.Actors.Protocols;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Tokenizers;
using RoRecomp.Model.Transformer;
using RoRecomp.Tasks;
using RoRecomp.Training;
using RoRecomp.Training.Steps;

namespace RoRecomp.Actors.Evaluation;

/// <summary>
/// The evaluator: on <see cref="EvaluatePolicy"/> it fetches the policy (at least the asked version) from the policy
/// publisher into its own model copy and answers with <see cref="HeldOutEvaluation.Run"/> on the held-out split.
/// Requests are handled one at a time, in order. Sampling blocks its thread, so it runs on the pinned compute dispatcher.
/// </summary>
public sealed class EvaluatorActor : ReceiveActor, IWithStash
{
    private readonly RunContext _context;
    private readonly IActorRef _publisher;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IRlTask _task;
    private readonly ITokenizer _tokenizer;
    private PolicyTransformer? _model;
    private long _version = -1;

    /// <summary>Creates the evaluator; use <see cref="Props"/>.</summary>
    public EvaluatorActor(RunContext context, IActorRef publisher)
    {
        _context = context;
        _publisher = publisher;
        _task = context.CreateTask();
        _tokenizer = context.CreateTokenizer(_task);
        Ready();
    }

    /// <inheritdoc />
    public IStash Stash { get; set; } = null!;

    /// <summary>Props of the evaluator (pinned compute dispatcher), which fetches weights from <paramref name="publisher"/>.</summary>
    public static Props Props(RunContext context, IActorRef publisher) =>
        Akka.Actor.Props.Create(() => new EvaluatorActor(context, publisher)).WithDispatcher(PipelineHocon.ComputeDispatcher);

    /// <inheritdoc />
    protected override void PostStop() => _model?.Dispose();

    private void Ready() => Receive<EvaluatePolicy>(m =>
    {
        if (_version >= m.MinVersion)
        {
            Evaluate(m, Sender);
            return;
        }
        var requester = Sender;
        _publisher.Tell(new FetchPolicy(m.MinVersion));
        Become(() =>
        {
            Receive<PolicySnapshot>(snapshot =>
            {
                Load(snapshot);
                Evaluate(m, requester);
                Stash.UnstashAll();
                Become(Ready);
            });
            ReceiveAny(_ => Stash.Stash());
        });
    });

    private void Load(PolicySnapshot snapshot)
    {
        TorchRuntime.EnsureLoaded();
        _model ??= PolicyFactory.Create(PolicyWeights.ParseConfig(snapshot.ModelConfigJson, $"policy v{snapshot.Version}"), _context.Settings, PolicyCopy.Sampler);
        PolicyWeights.Load(_model, snapshot.Weights, $"policy v{snapshot.Version}");
        _version = snapshot.Version;
    }

    private void Evaluate(EvaluatePolicy m, IActorRef requester)
    {
        try
        {
            requester.Tell(new PolicyEvaluated(HeldOutEvaluation.Run(_model!, _task, _tokenizer, _context.Settings, m.Step)));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.Error(e, "Evaluation after step {0} failed", m.Step);
            requester.Tell(new RunFailed($"evaluation after step {m.Step} failed: {e.Message}"));
        }
    }
}
