using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using RoRecomp.Actors.Configuration;
using RoRecomp.Actors.Coordination;
using RoRecomp.Actors.Pipeline;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Sft;
using RoRecomp.Actors.Weights;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Schedules;
using RoRecomp.Core.Training;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Training;
using RoRecomp.Model.Transformer;
using RoRecomp.Tasks;

namespace RoRecomp.Actors.Learning;

/// <summary>What <see cref="LearnerActor.UpdateAsync"/> did in one step.</summary>
/// <param name="Priority">The priority (or online) batch update's metrics; null when that batch had nothing to train on.</param>
/// <param name="CompensationLoss">Compensation batch loss (0 when none was trained on).</param>
/// <param name="Weight">The schedule's compensation weight at this step.</param>
/// <param name="CompensationSize">Responses drawn from the replay buffer (0 when none were).</param>
public sealed record LearnerUpdate(TrainMetrics? Priority, double CompensationLoss, double Weight, int CompensationSize)
{
    /// <summary>The step's <see cref="LearnerMetrics"/>, with <paramref name="trainSeconds"/> as the time the learner spent.</summary>
    public LearnerMetrics Metrics(double trainSeconds)
    {
        var pm = Priority;
        return new LearnerMetrics(
            pm?.Loss ?? 0, pm?.Entropy ?? 0, pm?.ClipFraction ?? 0, pm?.ApproxKl ?? 0, pm?.GradNorm ?? 0, pm?.LearningRate ?? 0,
            CompensationLoss, CompensationSize > 0 ? Weight : 0, trainSeconds);
    }
}

/// <summary>
/// The learner: owns the policy and its optimizer. Each step it updates on the priority batch (or the whole online
/// batch, recomposition off), then, when the compensation schedule says so, on a batch drawn from the replay buffer
/// with advantages recomputed inside it; the policy version then counts one more step. It writes checkpoints (model +
/// optimizer + RNG) that the coordinator commits, serves its weights to samplers and evaluates on the held-out split.
/// Training blocks its thread, so it runs on the pinned compute dispatcher; buffer round trips suspend its mailbox.
/// </summary>
public sealed class LearnerActor : ReceiveActor
{
    private static readonly TimeSpan BufferTimeout = TimeSpan.FromSeconds(60);

    private readonly PipelineContext _context;
    private readonly IActorRef _buffer;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IRlTask _task;
    private readonly CompensationSchedule _schedule;
    private readonly List<(IActorRef Sampler, long MinVersion)> _waiting = [];
    private PolicyTransformer? _model;
    private PolicyTransformer? _reference;
    private PolicyTrainer? _trainer;
    private IActorRef _coordinator = ActorRefs.Nobody;
    private long _version;
    private long _totalSteps;
    private (long Version, byte[] Bytes)? _snapshot;
    private WeightServer? _weights;

    /// <summary>Creates the learner; use <see cref="Props"/>.</summary>
    public LearnerActor(PipelineContext context, IActorRef buffer)
    {
        _context = context;
        _buffer = buffer;
        _task = context.CreateTask();
        _schedule = SettingsMapping.Compensation(context.Settings);

        Receive<LoadPolicy>(Load);
        ReceiveAsync<TrainOnStep>(TrainAsync);
        Receive<FetchPolicy>(m =>
        {
            if (_model is null || m.MinVersion > _version) _waiting.Add((Sender, m.MinVersion));
            else Serve(Sender);
        });
        Receive<EvaluatePolicy>(m => Sender.Tell(Evaluate(m.Step)));
    }

    /// <summary>Props of the learner (pinned compute dispatcher).</summary>
    public static Props Props(PipelineContext context, IActorRef buffer) =>
        Akka.Actor.Props.Create(() => new LearnerActor(context, buffer)).WithDispatcher(PipelineHocon.ComputeDispatcher);

    /// <inheritdoc />
    protected override void PostStop()
    {
        _weights?.Dispose();
        _trainer?.Dispose();
        _model?.Dispose();
        _reference?.Dispose();
    }

    private void Load(LoadPolicy m)
    {
        _coordinator = Sender;
        _totalSteps = m.TotalSteps;
        TorchRuntime.EnsureLoaded();
        var s = _context.Settings;
        TorchRuntime.ManualSeed(s.Run.Seed);
        _model ??= new PolicyTransformer(_context.RequireModelConfig());
        _trainer ??= CreateTrainer(_model, s, PipelineContext.Tokenizer(_task).PadId);

        var skipped = ImmutableArray.CreateBuilder<string>();
        RunCheckpoint? from = null;
        var own = Path.GetFullPath(_context.CheckpointDirectory) + Path.DirectorySeparatorChar;
        foreach (var candidate in m.Candidates)
        {
            // Paths come in a message: load only this run's own checkpoints, never a file a peer names.
            if (!Path.GetFullPath(candidate.Path).StartsWith(own, StringComparison.Ordinal))
            {
                skipped.Add($"{candidate.Path}: not inside this run's checkpoint folder {own}; not loaded");
                continue;
            }
            try
            {
                using var cp = CheckpointStore.Load(candidate.Path);
                StateDicts.Load(_model, cp.Model, strict: true, cp.Path);
                _trainer.Optimizer.LoadStateDict(cp.Optimizer);
                if (cp.Manifest.RngState is { } rng) RngState.Restore(rng);
                _version = cp.Manifest.PolicyVersion;
                from = candidate;
                break;
            }
            catch (CheckpointException e)
            {
                skipped.Add(e.Message);
                _log.Warning("Skipping checkpoint {0}: {1}", candidate.Path, e.Message);
            }
        }
        if (from is null)
        {
            if (m.Candidates.Length > 0)
            {
                Sender.Tell(new RunFailed($"no committed checkpoint of this run loads ({string.Join("; ", skipped)}); " +
                    "restore one or start a new run directory"));
                return;
            }
            LoadWarmStart(_model, _context.WarmStart);   // the configured warm start (model.checkpoint)
            _version = 0;
        }
        if (s.PolicyLoss.KlCoef > 0 && _reference is null)
        {
            _reference = new PolicyTransformer(_context.RequireModelConfig());
            LoadWarmStart(_reference, _context.WarmStart);
            _reference.eval();
        }
        _snapshot = null;
        Sender.Tell(new PolicyLoaded(from, _version, skipped.ToImmutable()));
        ServeWaiting();
    }

    private async Task TrainAsync(TrainOnStep m)
    {
        var sw = Stopwatch.StartNew();
        var step = m.Online.Step;
        try
        {
            var update = await UpdateAsync(
                _trainer!, _reference, _schedule, _context.Settings.Algorithm, m.Priority, step, _totalSteps, _version,
                draw => _buffer.Ask<IReplayBufferReply>(draw, BufferTimeout));
            _version++;
            _snapshot = null;
            var stats = await _buffer.Ask<BufferStats>(GetBufferStats.CountOnly, BufferTimeout);
            string? checkpoint = null;
            var every = _context.Settings.Checkpoint.Every;
            if ((every > 0 && step % every == 0) || step >= _totalSteps) checkpoint = SaveCheckpoint(step);
            var lm = update.Metrics(sw.Elapsed.TotalSeconds);
            var online = m.Online with { PolicyVersion = _version, CompensationSize = update.CompensationSize, BufferSize = stats.Count };
            _coordinator.Tell(new StepTrained(online, lm, checkpoint));
            ServeWaiting();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.Error(e, "Learner failed on step {0}", step);
            _coordinator.Tell(new RunFailed($"learner failed on step {step}: {e.Message}"));
        }
    }

    /// <summary>Loads the warm-start checkpoint's weights (verified) into <paramref name="model"/>.</summary>
    public static void LoadWarmStart(PolicyTransformer model, string warmStart)
    {
        using var warm = CheckpointStore.Load(warmStart);
        StateDicts.Load(model, warm.Model, strict: true, warm.Path);
    }

    /// <summary>The learner's trainer for <paramref name="model"/>: AdamW and the clipped-surrogate loss of <c>rorecomp.policy-loss.*</c>.</summary>
    public static PolicyTrainer CreateTrainer(PolicyTransformer model, RoRecompSettings s, int padId) => new(
        model,
        new OptimizerOptions(
            LearningRate: s.PolicyLoss.Lr, WarmupSteps: s.PolicyLoss.WarmupSteps, TotalSteps: 0, WeightDecay: s.PolicyLoss.WeightDecay,
            GradClip: s.PolicyLoss.GradClip, MicroBatchSize: s.PolicyLoss.MicroBatchSize),
        new PolicyLossOptions(s.PolicyLoss.ClipEpsLow, s.PolicyLoss.ClipEpsHigh, s.PolicyLoss.LossAggMode, s.PolicyLoss.KlCoef),
        padId,
        s.Sampling.Temperature);

    /// <summary>
    /// The updates of one learner step at policy <paramref name="policyVersion"/>: on the priority (or online) batch, then,
    /// when <paramref name="schedule"/> says step <paramref name="step"/> draws, on a compensation batch that
    /// <paramref name="draw"/> answers (the replay buffer), with advantages recomputed inside it and the schedule's
    /// weight. Does not count the policy version up.
    /// </summary>
    public static async Task<LearnerUpdate> UpdateAsync(
        PolicyTrainer trainer, PolicyTransformer? reference, CompensationSchedule schedule, AlgorithmSettings algorithm,
        TrainingBatch priority, long step, long totalSteps, long policyVersion, Func<DrawCompensationBatch, Task<IReplayBufferReply>> draw)
    {
        var samples = ToSamples(priority);
        TrainMetrics? pm = samples.Count > 0 ? trainer.TrainStep(samples, priority.Weight, reference) : null;
        double compLoss = 0, weight = schedule.Weight(step, totalSteps);
        var compensationSize = 0;
        if (schedule.Enabled && step % schedule.Every == 0)
        {
            var reply = await draw(new DrawCompensationBatch(schedule.BatchSize, policyVersion, step));
            if (reply is CompensationDrawn drawn)
            {
                compensationSize = drawn.Responses.Length;
                var batch = CompensationBatches.Build(drawn.Responses, algorithm.AdvantageEstimator, algorithm.Eps, weight);
                var compensation = ToSamples(batch);
                if (weight > 0 && compensation.Count > 0) compLoss = trainer.TrainStep(compensation, weight, reference).Loss;
            }
        }
        return new LearnerUpdate(pm, compLoss, weight, compensationSize);
    }

    private string SaveCheckpoint(long step)
    {
        var store = new CheckpointStore(_context.CheckpointDirectory, _context.Settings.Checkpoint.KeepLast);
        // The optimizer's state dict holds its live moment tensors: they must not be disposed here.
        return store.Save(step, _version, _model!.state_dict(), _trainer!.Optimizer.StateDict(), JsonSerializer.Serialize(_context.RequireModelConfig()), RngState.Capture(),
            new Dictionary<string, string>
            {
                ["task"] = _context.Settings.Run.Task,
                ["kind"] = "rl",
                ["seed"] = _context.Settings.Run.Seed.ToString(CultureInfo.InvariantCulture),
            });
    }

    private PolicyEvaluated Evaluate(long step)
    {
        // eval-size responses: every held-out prompt (up to eval-size) with as many samples each as that takes.
        var size = _context.Settings.Run.EvalSize;
        var count = (int)Math.Min(size, _task.DistinctPrompts(Split.Test));
        var samples = (size + count - 1) / count;
        var prompts = _task.Prompts(Split.Test, 0, count).ToList();
        // The same seed at every evaluation: differences between evaluations come from the policy, not the draw.
        var r = SftRunner.Evaluate(_model!, _task, prompts, _context.Settings.Sampling.MaxNewTokens, (_context.Settings.Run.Seed * 1_000_003L) + 7, samples);
        return new PolicyEvaluated(step, r.Accuracy, r.MeanLength, r.ToolCalls, r.FormatValid, count * samples);
    }

    /// <summary>
    /// A sampler in this process gets the weights in a message; a remote one gets <see cref="PolicyAvailable"/> and
    /// fetches them from the weight server (started on first use, on rorecomp.cluster.hostname:weights-port).
    /// </summary>
    private void Serve(IActorRef sampler)
    {
        var snapshot = Snapshot();
        if (sampler.Path.Address.HasLocalScope)
        {
            sampler.Tell(snapshot);
            return;
        }
        var c = _context.Settings.Cluster;
        _weights ??= new WeightServer(new WeightServerOptions { Host = c.Hostname, Port = c.WeightsPort });
        if (_weights.Latest is not { } latest || latest.Version != snapshot.Version) latest = _weights.Publish(snapshot.Version, snapshot.Weights);
        sampler.Tell(new PolicyAvailable(latest.Version, c.Hostname, _weights.Port, latest.Sha256, latest.Length, snapshot.ModelConfigJson));
    }

    private PolicySnapshot Snapshot()
    {
        if (_snapshot is not { } s || s.Version != _version) _snapshot = s = (_version, SafeTensors.Serialize(_model!.state_dict()));
        return new PolicySnapshot(s.Version, s.Bytes, JsonSerializer.Serialize(_context.RequireModelConfig()));
    }

    private void ServeWaiting()
    {
        if (_model is null) return;
        for (var i = _waiting.Count - 1; i >= 0; i--)
        {
            if (_waiting[i].MinVersion > _version) continue;
            Serve(_waiting[i].Sampler);
            _waiting.RemoveAt(i);
        }
    }

    private static List<PolicySample> ToSamples(TrainingBatch batch) =>
        [.. batch.Samples.Where(s => s.Response.Length > 0).Select(s => new PolicySample(
            [.. s.Response.PromptTokens], [.. s.Response.Tokens], [.. s.Response.LogProbs], (float)s.Advantage,
            s.Response.ActionMask.IsDefaultOrEmpty ? null : [.. s.Response.ActionMask]))];
}
