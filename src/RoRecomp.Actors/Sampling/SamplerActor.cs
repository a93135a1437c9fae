using Akka.Actor;
using Akka.Event;
using RoRecomp.Settings;
using RoRecomp.Actors.Protocols;
using RoRecomp.Core.Coordination;
using RoRecomp.Training;
using RoRecomp.Actors.Runners;
using RoRecomp.Actors.Hosting;
using RoRecomp.Training.Steps;
using RoRecomp.Weights;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Tokenizers;
using RoRecomp.Model.Transformer;
using RoRecomp.Tasks;

namespace RoRecomp.Actors.Sampling;

/// <summary>
/// A sampler: pulls a lease from the coordinator (<see cref="RequestWork"/>), fetches newer weights from the policy
/// publisher when the lease asks for a newer policy than it holds (<see cref="FetchPolicy"/>), samples the lease's groups with
/// its own model copy (<see cref="LeaseSampler.Sample"/>), hands them to the verifier and asks for more. It keeps no
/// state worth saving: a sampler that dies loses only its lease, which the coordinator re-issues.
/// </summary>
public sealed class SamplerActor : ReceiveActor, IWithStash
{
    private readonly RunContext _context;
    private readonly string _id;
    private readonly IActorRef _coordinator;
    private readonly IActorRef _publisher;
    private readonly IActorRef _verifier;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IRlTask _task;
    private readonly ITokenizer _tokenizer;
    private readonly PolicyRelay _relay;
    private PolicyTransformer? _model;
    private long _version = -1;
    private long _wanted;
    private int _fetchFailures;
    private const int MaxFetchFailures = 5;

    /// <summary>Creates the sampler; use <see cref="Props"/>.</summary>
    public SamplerActor(RunContext context, string id, IActorRef coordinator, IActorRef publisher, IActorRef verifier)
    {
        _context = context;
        _id = id;
        _coordinator = coordinator;
        _publisher = publisher;
        _verifier = verifier;
        _task = context.CreateTask();
        _tokenizer = context.CreateTokenizer(_task);
        // A sampler on the learner's node gets the weights in process; elsewhere it relays what it fetches to its peers.
        // The weight stream (fetches and the relay server) speaks TLS with remoting's certificate when remoting has TLS on.
        _relay = new PolicyRelay(
            context.Settings.Cluster,
            context.Settings.Cluster.WeightsRelayFanout > 0 && !context.Settings.Cluster.Has(RoRecompHostingExtensions.LearnerRole),
            RemoteCertificate.Load(Context.System.Settings.Config),
            line => _log.Warning(line));
        Ready();
    }

    /// <inheritdoc />
    public IStash Stash { get; set; } = null!;

    /// <summary>Props of a sampler (runs on the pinned compute dispatcher: sampling blocks its thread).</summary>
    public static Props Props(RunContext context, string id, IActorRef coordinator, IActorRef publisher, IActorRef verifier) =>
        Akka.Actor.Props.Create(() => new SamplerActor(context, id, coordinator, publisher, verifier)).WithDispatcher(PipelineHocon.ComputeDispatcher);

    /// <inheritdoc />
    protected override void PreStart() => _coordinator.Tell(new RequestWork(_id, RunKeys));

    /// <summary>This node's run configuration, which the coordinator compares with the run's.</summary>
    private string RunKeys => _context.Settings.Fingerprint?.Text ?? "";

    /// <inheritdoc />
    protected override void PostStop()
    {
        _relay.Dispose();
        _model?.Dispose();
    }

    private void Ready()
    {
        Receive<LeaseGranted>(granted =>
        {
            if (granted.Task != _task.Name)
            {
                _coordinator.Tell(new RunFailed($"sampler {_id} is configured for task '{_task.Name}' but the run's task is '{granted.Task}': give every node the run's config"));
                return;
            }
            if (_version >= granted.Lease.PolicyVersion)
            {
                Sample(granted.Lease);
                return;
            }
            Stash.Stash();
            _wanted = granted.Lease.PolicyVersion;
            _publisher.Tell(_relay.Request(_wanted));
            Become(AwaitingPolicy);
        });
        Receive<PolicySnapshot>(Load);
        Receive<WorkRefused>(Refused);
    }

    private void AwaitingPolicy()
    {
        Receive<PolicySnapshot>(snapshot =>
        {
            Load(snapshot);
            _fetchFailures = 0;
            Stash.UnstashAll();
            Become(Ready);
        });
        Receive<PolicyAvailable>(m =>
        {
            // Only from the learner itself: the weight server must be on the host the message came from.
            var from = Sender.Path.Address.Host;
            if (from is not null && !string.Equals(from, m.Host, StringComparison.OrdinalIgnoreCase))
            {
                _coordinator.Tell(new RunFailed($"sampler {_id}: policy v{m.Version} offered at {m.Host}, but the learner is at {from}"));
                return;
            }
            var self = Self;
            var events = Context.System.EventStream;
            var sw = System.Diagnostics.Stopwatch.StartNew();
            // Relay peers may send the chunks: each is checked against the digest the learner named, so they need no trust.
            // Every request carries the run's credential (m.Credential); with remoting's TLS on, every connection is TLS.
            _relay.FetchAsync(m).PipeTo(self,
                success: blob =>
                {
                    events.Publish(new PolicyFetched(_id, blob.Version, blob.Bytes.Length, blob.Source, sw.Elapsed.TotalSeconds));
                    return new PolicySnapshot(blob.Version, blob.Bytes, m.ModelConfigJson);
                },
                failure: e => new WeightsFailed(e.Message));
        });
        Receive<WeightsFailed>(f =>
        {
            if (++_fetchFailures >= MaxFetchFailures)
            {
                _log.Error("Sampler {0} could not fetch the policy: {1}", _id, f.Reason);
                _coordinator.Tell(new RunFailed($"sampler {_id} could not fetch the policy {_fetchFailures} times: {f.Reason}"));
                return;
            }
            _log.Warning("Sampler {0} could not fetch the policy ({1}); asking the learner again", _id, f.Reason);
            Context.System.Scheduler.ScheduleTellOnce(TimeSpan.FromSeconds(2), _publisher, _relay.Request(_wanted), Self);
        });
        ReceiveAny(_ => Stash.Stash());
    }

    private sealed record WeightsFailed(string Reason);

    private void Load(PolicySnapshot snapshot)
    {
        if (snapshot.Version <= _version) return;
        TorchRuntime.EnsureLoaded();
        _model ??= PolicyFactory.Create(PolicyWeights.ParseConfig(snapshot.ModelConfigJson, $"policy v{snapshot.Version}"), _context.Settings, PolicyCopy.Sampler);
        PolicyWeights.Load(_model, snapshot.Weights, $"policy v{snapshot.Version}");
        _version = snapshot.Version;
    }

    private void Sample(WorkLease lease)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            var groups = LeaseSampler.Sample(_model!, _tokenizer, _task, _context.Settings.Sampling, lease, _version);
            _verifier.Tell(new VerifyRollouts(lease.LeaseId, lease.Step, groups));
            var responses = groups.SelectMany(g => g.Responses).ToList();
            Context.System.EventStream.Publish(new LeaseSampled(_id, lease.LeaseId, lease.Step, _version, responses.Count, responses.Sum(r => r.Length), sw.Elapsed.TotalSeconds));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.Error(e, "Sampler {0} failed on lease {1}", _id, lease.LeaseId);
            _coordinator.Tell(new RunFailed($"sampler {_id} failed on lease {lease.LeaseId}: {e.Message}"));
            return;
        }
        _coordinator.Tell(new RequestWork(_id, RunKeys));
    }

    private void Refused(WorkRefused m)
    {
        var mine = _context.Settings.Fingerprint ?? new RunFingerprint("");
        var differences = mine.Differences(new RunFingerprint(m.RunKeys), "node", "learner");
        _log.Error("Sampler {0} was refused by the learner: {1}; differing keys: {2}", _id, m.Reason, string.Join("; ", differences));
        Context.System.EventStream.Publish(new SamplerRefused(_id, m.Reason, differences));
        Context.Stop(Self);
    }
}
