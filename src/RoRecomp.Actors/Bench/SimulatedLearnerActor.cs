using System.Diagnostics;
using Akka.Actor;
using RoRecomp.Actors.Protocols;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Schedules;
using RoRecomp.Settings;
using RoRecomp.Training;
using RoRecomp.Training.Steps;

namespace RoRecomp.Actors.Bench;

/// <summary>The busy interval of one stand-in learner step, in <see cref="Stopwatch"/> ticks.</summary>
/// <param name="Step">The step.</param>
/// <param name="Start">When its <see cref="TrainOnStep"/> was taken up.</param>
/// <param name="End">When its <see cref="StepTrained"/> was sent.</param>
/// <param name="Responses">Responses of its online batch.</param>
/// <param name="BufferSeconds">Of that, seconds waiting for the replay buffer (the compensation draw and the size).</param>
public sealed record LearnerInterval(long Step, long Start, long End, int Responses, double BufferSeconds);

/// <summary>
/// What the bench and its stand-in learner share (same process): the gate that holds the run until every sampler has
/// joined, and the learner's busy intervals.
/// </summary>
public sealed class LearnerProbe
{
    private readonly List<LearnerInterval> _intervals = [];
    private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the learner may answer <see cref="LoadPolicy"/> (the run starts).</summary>
    public Task Gate => _gate.Task;

    /// <summary>Lets the run start.</summary>
    public void Open() => _gate.TrySetResult();

    /// <summary>The intervals so far, in step order.</summary>
    public IReadOnlyList<LearnerInterval> Intervals
    {
        get
        {
            lock (_intervals) return [.. _intervals];
        }
    }

    /// <summary>Records one step.</summary>
    public void Add(LearnerInterval interval)
    {
        lock (_intervals) _intervals.Add(interval);
    }
}

/// <summary>
/// A learner without a model (<c>bench coordination</c>): the real learner's protocol with the update replaced by a
/// wait of fixed duration. On <see cref="LoadPolicy"/> it answers (once the probe's gate opens) that it starts from the
/// warm start at version 0; on <see cref="TrainOnStep"/> it waits the update time, draws a compensation batch from the
/// replay buffer when the schedule says so and reads the buffer's size (the real learner's round trips), counts the
/// version up and reports <see cref="StepTrained"/> without a checkpoint. It publishes no weights.
/// </summary>
public sealed class SimulatedLearnerActor : ReceiveActor
{
    private static readonly TimeSpan BufferTimeout = TimeSpan.FromSeconds(60);

    private readonly IActorRef _buffer;
    private readonly TimeSpan _update;
    private readonly LearnerProbe _probe;
    private readonly CompensationSchedule _schedule;
    private IActorRef _coordinator = ActorRefs.Nobody;
    private long _version;

    /// <summary>Creates the stand-in; use <see cref="Factory"/>.</summary>
    public SimulatedLearnerActor(RunContext context, IActorRef buffer, int updateMs, LearnerProbe probe)
    {
        _buffer = buffer;
        _update = TimeSpan.FromMilliseconds(updateMs);
        _probe = probe;
        _schedule = SettingsMapping.Compensation(context.Settings);
        ReceiveAsync<LoadPolicy>(async _ =>
        {
            _coordinator = Sender;
            await _probe.Gate;
            _coordinator.Tell(new PolicyLoaded(null, _version, []));
        });
        ReceiveAsync<TrainOnStep>(TrainAsync);
    }

    /// <summary>Props of a stand-in with the shape of <see cref="Learning.LearnerActor.Props"/>.</summary>
    public static Func<RunContext, IActorRef, IActorRef, Props> Factory(int updateMs, LearnerProbe probe) =>
        (context, buffer, _) => Props.Create(() => new SimulatedLearnerActor(context, buffer, updateMs, probe));

    private async Task TrainAsync(TrainOnStep m)
    {
        var start = Stopwatch.GetTimestamp();
        var step = m.Online.Step;
        await Task.Delay(_update);
        var buffer = Stopwatch.GetTimestamp();
        var compensation = 0;
        if (_schedule.Enabled && step % _schedule.Every == 0)
        {
            var reply = await _buffer.Ask<IReplayBufferReply>(new DrawCompensationBatch(_schedule.BatchSize, _version, step), BufferTimeout);
            if (reply is CompensationDrawn drawn) compensation = drawn.Responses.Length;
        }
        var stats = await _buffer.Ask<BufferStats>(GetBufferStats.CountOnly, BufferTimeout);
        var bufferSeconds = Stopwatch.GetElapsedTime(buffer).TotalSeconds;
        _version++;
        var online = m.Online with { PolicyVersion = _version, CompensationSize = compensation, BufferSize = stats.Count };
        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        _probe.Add(new LearnerInterval(step, start, Stopwatch.GetTimestamp(), m.Online.Responses, bufferSeconds));
        _coordinator.Tell(new StepTrained(online, new LearnerMetrics(0, 0, 0, 0, 0, 0, 0, 0, seconds), null));
    }
}
