using System.Collections.Immutable;
using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using RoRecomp.Actors.Configuration;
using RoRecomp.Actors.Coordination;
using RoRecomp.Actors.Learning;
using RoRecomp.Actors.Pipeline;
using RoRecomp.Actors.Rollouts;
using RoRecomp.Actors.Verification;
using RoRecomp.Actors.Weights;
using System.Net;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Rollouts;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Tokenizers;
using RoRecomp.Model.Transformer;
using RoRecomp.Tasks;

namespace RoRecomp.Actors.Sampling;

/// <summary>Published on the local event stream when a sampler finished a lease (for a node's progress output).</summary>
public sealed record LeaseSampled(string SamplerId, string LeaseId, long Step, long PolicyVersion, int Responses, int Tokens, double Seconds);

/// <summary>Published on the local event stream when a sampler fetched policy weights from the learner's weight server.</summary>
public sealed record PolicyFetched(string SamplerId, long Version, long Bytes, string From, double Seconds);

/// <summary>
/// A sampler: pulls a lease from the coordinator (<see cref="RequestWork"/>), fetches newer weights from the learner
/// when the lease asks for a newer policy than it holds (<see cref="FetchPolicy"/>), samples the lease's groups with
/// its own model copy (<see cref="EpisodeRunner.Sample"/>), hands them to the verifier and asks for more. It keeps no
/// state worth saving: a sampler that dies loses only its lease, which the coordinator re-issues.
/// </summary>
public sealed class SamplerActor : ReceiveActor, IWithStash
{
    private readonly PipelineContext _context;
    private readonly string _id;
    private readonly IActorRef _coordinator;
    private readonly IActorRef _learner;
    private readonly IActorRef _verifier;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IRlTask _task;
    private readonly ITokenizer _tokenizer;
    private PolicyTransformer? _model;
    private long _version = -1;
    private long _wanted;
    private int _fetchFailures;
    private const int MaxFetchFailures = 5;

    /// <summary>Creates the sampler; use <see cref="Props"/>.</summary>
    public SamplerActor(PipelineContext context, string id, IActorRef coordinator, IActorRef learner, IActorRef verifier)
    {
        _context = context;
        _id = id;
        _coordinator = coordinator;
        _learner = learner;
        _verifier = verifier;
        _task = context.CreateTask();
        _tokenizer = PipelineContext.Tokenizer(_task);
        Ready();
    }

    /// <inheritdoc />
    public IStash Stash { get; set; } = null!;

    /// <summary>Props of a sampler (runs on the pinned compute dispatcher: sampling blocks its thread).</summary>
    public static Props Props(PipelineContext context, string id, IActorRef coordinator, IActorRef learner, IActorRef verifier) =>
        Akka.Actor.Props.Create(() => new SamplerActor(context, id, coordinator, learner, verifier)).WithDispatcher(PipelineHocon.ComputeDispatcher);

    /// <inheritdoc />
    protected override void PreStart() => _coordinator.Tell(new RequestWork(_id));

    /// <inheritdoc />
    protected override void PostStop() => _model?.Dispose();

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
            _learner.Tell(new FetchPolicy(_wanted));
            Become(AwaitingPolicy);
        });
        Receive<PolicySnapshot>(Load);
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
            new WeightClient().FetchAsync(new DnsEndPoint(m.Host, m.Port), m.Version).PipeTo(self,
                success: blob =>
                {
                    if (blob.Sha256 != m.Sha256)
                        return new WeightsFailed($"policy v{m.Version}: SHA-256 {blob.Sha256} differs from the learner's {m.Sha256}");
                    events.Publish(new PolicyFetched(_id, blob.Version, blob.Bytes.Length, $"{m.Host}:{m.Port}", sw.Elapsed.TotalSeconds));
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
            Context.System.Scheduler.ScheduleTellOnce(TimeSpan.FromSeconds(2), _learner, new FetchPolicy(_wanted), Self);
        });
        ReceiveAny(_ => Stash.Stash());
    }

    private sealed record WeightsFailed(string Reason);

    /// <summary>
    /// Samples a lease with <paramref name="model"/> (policy <paramref name="policyVersion"/>): the lease's samples per
    /// prompt for each of its prompts (<see cref="EpisodeRunner.Sample"/> with the lease's seed), as one unverified
    /// group per prompt in lease order, with response ids that are stable across re-runs.
    /// </summary>
    public static ImmutableArray<RolloutGroup> SampleLease(
        PolicyTransformer model, ITokenizer tokenizer, IRlTask task, SamplingSettings sampling, WorkLease lease, long policyVersion)
    {
        var prompts = lease.PromptIndices.Select(i => PipelineContext.TrainPrompt(task, i)).ToList();
        var episodes = EpisodeRunner.Sample(
            model, tokenizer, task, prompts, lease.SamplesPerPrompt, sampling.MaxNewTokens, sampling.Temperature, sampling.TopP, sampling.TopK, lease.Seed);
        var groups = ImmutableArray.CreateBuilder<RolloutGroup>(prompts.Count);
        for (var p = 0; p < prompts.Count; p++)
        {
            var responses = ImmutableArray.CreateBuilder<Response>(lease.SamplesPerPrompt);
            for (var j = 0; j < lease.SamplesPerPrompt; j++)
            {
                var e = episodes[(p * lease.SamplesPerPrompt) + j];
                responses.Add(new Response(
                    WorkLeases.ResponseId(lease.Step, e.Prompt.Id, j), e.Prompt.Id, j, lease.Step, policyVersion,
                    [.. e.PromptTokens], [.. e.Tokens], [.. e.LogProbs],
                    ActionMask: e.ActionMask.All(x => x) ? default : [.. e.ActionMask]));
            }
            groups.Add(new RolloutGroup(prompts[p].Id, lease.Step, responses.MoveToImmutable()));
        }
        return groups.MoveToImmutable();
    }

    private void Load(PolicySnapshot snapshot)
    {
        if (snapshot.Version <= _version) return;
        TorchRuntime.EnsureLoaded();
        _model ??= new PolicyTransformer(JsonSerializer.Deserialize<TransformerConfig>(snapshot.ModelConfigJson)
            ?? throw new InvalidOperationException($"policy v{snapshot.Version} came without a model config"));
        LoadWeights(_model, snapshot.Weights, $"policy v{snapshot.Version}");
        _version = snapshot.Version;
    }

    /// <summary>
    /// Loads policy weights (safetensors bytes, as the learner serialises its state dict) into a sampler's model copy
    /// and puts it in eval mode; <paramref name="source"/> names them in errors.
    /// </summary>
    public static void LoadWeights(PolicyTransformer model, byte[] weights, string source)
    {
        var content = SafeTensors.Parse(weights, source);
        var tensors = content.ToDictionary();
        try
        {
            StateDicts.Load(model, tensors, strict: true, source);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
        model.eval();
    }

    private void Sample(WorkLease lease)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            var groups = SampleLease(_model!, _tokenizer, _task, _context.Settings.Sampling, lease, _version);
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
        _coordinator.Tell(new RequestWork(_id));
    }
}
