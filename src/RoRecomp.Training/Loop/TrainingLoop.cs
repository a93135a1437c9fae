using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;
using RoRecomp.Settings;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Steps;

namespace RoRecomp.Training.Loop;

/// <summary>
/// The training pipeline's compute as a plain loop, with no actors, Akka or persistence: the same step functions the
/// actors call (<see cref="StepPlanner"/>, <see cref="PolicyWeights"/>, <see cref="LeaseSampler"/>, <see cref="Scoring"/>,
/// <see cref="StepRecomposer"/>, a <see cref="ReplayBufferState"/> in memory, <see cref="PolicyUpdate"/>), one piece at a
/// time. Under a seed it writes the metrics a synchronous actor run writes; <c>bench pipeline</c> compares the two.
/// </summary>
public static class TrainingLoop
{
    /// <summary>
    /// The pipeline's compute for <paramref name="steps"/> steps in a plain loop, starting from <paramref name="warmStart"/>
    /// as a fresh run does; returns each step's metrics.jsonl line (<c>wall_s</c> counts the steps only).
    /// <paramref name="totalSteps"/> is the run length the compensation schedule sees. Nothing runs concurrently: the
    /// caller waits while the sampler's and the learner's torch work runs on a thread of each (see <see cref="ComputeThread"/>).
    /// </summary>
    public static IReadOnlyList<MetricsLine> Run(RoRecompSettings s, string warmStart, int steps, long totalSteps, TextWriter log)
    {
        TorchRuntime.EnsureLoaded();
        var context = new RunContext(s, totalSteps, warmStart, RunContext.ReadModelConfig(warmStart));
        var config = context.RequireModelConfig();
        var task = context.CreateTask();
        var tokenizer = context.CreateTokenizer(task);
        var schedule = SettingsMapping.Compensation(s);
        var recomposition = SettingsMapping.Recomposition(s);
        var shaping = SettingsMapping.RewardShaping(s);
        var buffer = new InMemoryBuffer(ReplayBufferState.Empty(SettingsMapping.ReplayBuffer(s)));
        using var learnerThread = new ComputeThread("bench-loop-learner");
        using var samplerThread = new ComputeThread("bench-loop-sampler");

        // The learner's policy as the learner makes it for a fresh run.
        var (model, trainer, reference) = learnerThread.Run(() =>
        {
            TorchRuntime.ManualSeed(s.Run.Seed);
            var model = PolicyFactory.Create(config, s);
            var trainer = PolicyUpdate.CreateTrainer(model, s, tokenizer.PadId);
            WarmStart.Load(model, warmStart);
            PolicyTransformer? reference = null;
            if (s.PolicyLoss.KlCoef > 0)
            {
                reference = PolicyFactory.Create(config, s);
                WarmStart.Load(reference, warmStart);
                reference.eval();
            }
            return (model, trainer, reference);
        });
        PolicyTransformer? sampler = null;
        try
        {
            var lines = new List<MetricsLine>();
            long version = 0, samplerVersion = -1, cursor = 0;
            double wall = 0;
            for (long step = 1; step <= steps; step++)
            {
                var clock = Stopwatch.StartNew();
                var (leases, promptIds) = StepPlanner.Plan(task, s.Run, step, cursor, version);
                var scored = new Dictionary<string, RolloutGroup>(StringComparer.Ordinal);
                foreach (var lease in leases)
                {
                    if (samplerVersion < lease.PolicyVersion)
                    {
                        // The learner's in-process hand-off: its state dict as safetensors bytes, loaded into the sampler's copy.
                        var weights = learnerThread.Run(() => PolicyWeights.Serialize(model));
                        var v = version;
                        samplerThread.Run(() =>
                        {
                            sampler ??= PolicyFactory.Create(config, s, PolicyCopy.Sampler);
                            PolicyWeights.Load(sampler, weights, $"policy v{v}");
                        });
                        samplerVersion = version;
                    }
                    var groups = samplerThread.Run(() => LeaseSampler.Sample(sampler!, tokenizer, task, s.Sampling, lease, samplerVersion));
                    foreach (var group in groups) scored.TryAdd(group.PromptId, Scoring.Score(task, tokenizer, group, shaping));
                }
                var sampleSeconds = clock.Elapsed.TotalSeconds;
                var online = promptIds.Select(id => scored[id]).ToList();
                var (recomposed, metrics) = StepRecomposer.Recompose(online, recomposition, s.Run.Seed, step, version);
                if (!recomposed.Compensation.IsEmpty) buffer.Handle(new StoreResponses(recomposed.Compensation, step));
                var learnerClock = Stopwatch.StartNew();
                // Completes synchronously: the in-memory buffer answers at once.
                var update = learnerThread.Run(() => PolicyUpdate.RunAsync(
                    trainer, reference, schedule, s.Algorithm, recomposed.Priority, step, totalSteps, version, buffer.Handle).GetAwaiter().GetResult());
                version++;
                cursor += s.Run.PromptsPerStep;
                var record = new StepRecord(
                    metrics with { PolicyVersion = version, CompensationSize = update.CompensationSize, BufferSize = buffer.State.Count },
                    update.Metrics(learnerClock.Elapsed.TotalSeconds), null, cursor, clock.Elapsed.TotalSeconds, null);
                wall += record.StepSeconds;
                lines.Add(MetricsLine.From(record, wall, ""));
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"loop step {step}/{steps} | acc {metrics.Accuracy:P0} len {metrics.MeanLength:F1} | priority {metrics.PrioritySize} comp {update.CompensationSize} buffer {buffer.State.Count} | {record.StepSeconds:F2} s (sampling {sampleSeconds:F2} s, learner {record.Learner.TrainSeconds:F2} s)"));
            }
            return lines;
        }
        finally
        {
            samplerThread.Run(() => sampler?.Dispose());
            learnerThread.Run(() =>
            {
                trainer.Dispose();
                model.Dispose();
                reference?.Dispose();
            });
        }
    }

    /// <summary>
    /// A thread of its own that runs what it is given, one thing at a time, while the caller waits: the loop's stand-in
    /// for a compute actor's pinned thread. The loop's torch work runs on two of them, the sampler's and the learner's,
    /// as in the pipeline, because libtorch's OpenMP runtime (libgomp) spins less when more thread teams exist than
    /// cores: on a busy machine a lone team's spinning made the tiny policy's small ops tens of times slower than on the
    /// pipeline's two threads, which would be measured as actor "overhead" that is not the actors'.
    /// </summary>
    private sealed class ComputeThread : IDisposable
    {
        private readonly BlockingCollection<Action> _work = new();
        private readonly Thread _thread;

        public ComputeThread(string name)
        {
            _thread = new Thread(() =>
            {
                foreach (var work in _work.GetConsumingEnumerable()) work();
            })
            { Name = name, IsBackground = true };
            _thread.Start();
        }

        public T Run<T>(Func<T> work)
        {
            T result = default!;
            ExceptionDispatchInfo? error = null;
            using var done = new ManualResetEventSlim();
            _work.Add(() =>
            {
                try
                {
                    result = work();
                }
                catch (Exception e)
                {
                    error = ExceptionDispatchInfo.Capture(e);
                }
                finally
                {
                    done.Set();
                }
            });
            done.Wait();
            error?.Throw();
            return result;
        }

        public void Run(Action work) => Run(() =>
        {
            work();
            return 0;
        });

        public void Dispose()
        {
            _work.CompleteAdding();
            _thread.Join();
            _work.Dispose();
        }
    }

    /// <summary>The replay buffer without an actor or a journal: <see cref="ReplayBufferState.Process"/>, then its events applied.</summary>
    private sealed class InMemoryBuffer(ReplayBufferState state)
    {
        public ReplayBufferState State { get; private set; } = state;

        public Task<IReplayBufferReply> Handle(IReplayBufferCommand command)
        {
            var decision = State.Process(command);
            State = State.ApplyAll(decision.Events);
            return Task.FromResult(decision.Reply);
        }
    }
}
