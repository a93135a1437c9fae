using Akka.Actor;
using RoRecomp.Actors.Learning;
using RoRecomp.Actors.Sampling;
using RoRecomp.Training;

namespace RoRecomp.Actors.Hosting;

/// <summary>
/// Timed stand-ins for the model-backed actors, plugged in where <see cref="RoRecompHostingExtensions.AddRoRecompPipeline"/>
/// builds them (null = the real one). Only <c>bench coordination</c> uses them: the rest of the pipeline stays real.
/// </summary>
/// <param name="Sampler">Props of a sampler from (context, id, coordinator, publisher, verifiers), as <see cref="SamplerActor.Props"/>.</param>
/// <param name="Learner">Props of the learner from (context, buffer, publisher), as <see cref="LearnerActor.Props"/>.</param>
public sealed record PipelineStandIns(
    Func<RunContext, string, IActorRef, IActorRef, IActorRef, Props>? Sampler = null,
    Func<RunContext, IActorRef, IActorRef, Props>? Learner = null);
