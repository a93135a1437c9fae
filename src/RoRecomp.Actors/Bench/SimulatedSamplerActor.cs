using System.Collections.Immutable;
using System.Diagnostics;
using Akka.Actor;
using RoRecomp.Actors.Protocols;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Rollouts;
using RoRecomp.Model.Tokenizers;
using RoRecomp.Tasks;
using RoRecomp.Training;

namespace RoRecomp.Actors.Bench;

/// <summary>What a <see cref="SimulatedSamplerActor"/> stands in for.</summary>
/// <param name="GenerationMs">Wall milliseconds one lease takes (the generation time of a real sampler).</param>
/// <param name="ResponseTokens">Tokens of every response (token ids and log-probs of this length travel).</param>
public sealed record SimulatedSampling(int GenerationMs, int ResponseTokens);

/// <summary>
/// A sampler without a model (<c>bench coordination</c>): the real sampler's protocol (<see cref="RequestWork"/> to the
/// coordinator, <see cref="LeaseGranted"/> in, <see cref="VerifyRollouts"/> to the verifiers) with generation replaced
/// by a wait. A lease takes <see cref="SimulatedSampling.GenerationMs"/> in all: its groups are built first (the task's
/// SFT trace for the prompt, filled to <see cref="SimulatedSampling.ResponseTokens"/> tokens with random ids, random
/// log-probs) and the rest of the time is waited without holding a thread, so hundreds of samplers share one process
/// as GPU-bound samplers would. It never fetches weights: weight transport is <c>bench weights</c>.
/// </summary>
public sealed class SimulatedSamplerActor : ReceiveActor
{
    private readonly string _id;
    private readonly IActorRef _coordinator;
    private readonly IActorRef _verifier;
    private readonly SimulatedSampling _sim;
    private readonly IRlTask _task;
    private readonly ITokenizer _tokenizer;

    /// <summary>Creates the stand-in; use <see cref="Props"/>.</summary>
    public SimulatedSamplerActor(RunContext context, string id, IActorRef coordinator, IActorRef verifier, SimulatedSampling sim)
    {
        _id = id;
        _coordinator = coordinator;
        _verifier = verifier;
        _sim = sim;
        _task = context.CreateTask();
        _tokenizer = context.CreateTokenizer(_task);
        Receive<LeaseGranted>(Generate);
        Receive<Generated>(g =>
        {
            _verifier.Tell(g.Rollouts);
            _coordinator.Tell(new RequestWork(_id));
        });
    }

    /// <summary>Props of a stand-in with the shape of <see cref="Sampling.SamplerActor.Props"/> (the publisher is not used).</summary>
    public static Func<RunContext, string, IActorRef, IActorRef, IActorRef, Props> Factory(SimulatedSampling sim) =>
        (context, id, coordinator, _, verifier) => Akka.Actor.Props.Create(() => new SimulatedSamplerActor(context, id, coordinator, verifier, sim));

    /// <inheritdoc />
    protected override void PreStart() => _coordinator.Tell(new RequestWork(_id));

    private void Generate(LeaseGranted granted)
    {
        var sw = Stopwatch.StartNew();
        var lease = granted.Lease;
        var rng = new Random(unchecked((int)lease.Seed));
        var groups = ImmutableArray.CreateBuilder<RolloutGroup>(lease.PromptIndices.Length);
        foreach (var index in lease.PromptIndices)
        {
            var prompt = RunContext.TrainPrompt(_task, index);
            var promptTokens = ImmutableArray.Create(_tokenizer.Encode(prompt.Text));
            var responses = ImmutableArray.CreateBuilder<Response>(lease.SamplesPerPrompt);
            for (var j = 0; j < lease.SamplesPerPrompt; j++)
            {
                var trace = _tokenizer.Encode(_task.Trace(prompt, rng));
                var tokens = new int[_sim.ResponseTokens];
                var logProbs = new float[_sim.ResponseTokens];
                for (var t = 0; t < tokens.Length; t++)
                {
                    tokens[t] = t < trace.Length ? trace[t] : rng.Next(_tokenizer.VocabSize);
                    logProbs[t] = -(float)rng.NextDouble() * 4;
                }
                responses.Add(new Response(
                    WorkLeases.ResponseId(lease.Step, prompt.Id, j), prompt.Id, j, lease.Step, lease.PolicyVersion,
                    promptTokens, ImmutableArray.Create(tokens), ImmutableArray.Create(logProbs)));
            }
            groups.Add(new RolloutGroup(prompt.Id, lease.Step, responses.MoveToImmutable()));
        }
        var rollouts = new VerifyRollouts(lease.LeaseId, lease.Step, groups.MoveToImmutable());
        var rest = TimeSpan.FromMilliseconds(_sim.GenerationMs) - sw.Elapsed;
        if (rest <= TimeSpan.Zero) Self.Tell(new Generated(rollouts));
        else Task.Delay(rest).PipeTo(Self, success: () => new Generated(rollouts));
    }

    private sealed record Generated(VerifyRollouts Rollouts);
}
