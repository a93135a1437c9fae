using System.Diagnostics;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Sampling;
using RoRecomp.Model.Tests.Transformer;
using RoRecomp.Model.Training;
using static TorchSharp.torch;

namespace RoRecomp.Model.Tests;

/// <summary>
/// The paths a run repeats every step (weights serialised for samplers and checkpoints, loaded by samplers, sampling with
/// its own generator, optimizer state saved and restored), run while another thread forces garbage collections and
/// finalizers without pause. A temporary TorchSharp wrapper left to the finalizer can be freed while libtorch still
/// reads it (see <c>TorchRuntime</c>'s remarks); before the fix, serialising a state dict this way crashed the process
/// with a segfault within 5-15 s here. A crash takes the test host down, so this test fails by aborting the run.
/// </summary>
public sealed class FinalizerStressTests
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(12);

    /// <summary>Rounds each test runs at least, however long a loaded machine takes (a CI run beside training runs did 6 in 12 s).</summary>
    private const int MinRounds = 11;

    [Fact]
    public void Weights_sampling_and_optimizer_state_survive_constant_garbage_collection()
    {
        using var model = TinyModels.Make(7);
        using var copy = TinyModels.Make(8);
        using var reference = TinyModels.Make(9);
        using var trainer = new PolicyTrainer(model, new OptimizerOptions(LearningRate: 1e-3, WeightDecay: 0.01),
            new PolicyLossOptions(AggregationMode: LossAggregation.SeqMeanTokenMean, KlCoefficient: 0.1));
        var options = new SamplingOptions(MaxNewTokens: 6, EosId: 1, PadId: 0, TopP: 0.9, TopK: 5);

        byte[] weights = [], optimizer = [];
        var (rounds, collections) = UnderConstantCollection(round =>
        {
            trainer.TrainStep([new PolicySample([3, 4], [5, 6, 7], [-1f, -1f, -1f], 1f)], weight: 0.5, reference);
            trainer.SftStep([([3, 4], [5, 6])]);
            weights = SafeTensors.Serialize(model.state_dict());
            optimizer = SafeTensors.Serialize(trainer.Optimizer.StateDict());
            var loaded = SafeTensors.Parse(weights, "stress").ToDictionary();
            try
            {
                StateDicts.Load(copy, loaded, strict: true, "stress");
            }
            finally
            {
                foreach (var t in loaded.Values) t.Dispose();
            }
            var state = SafeTensors.Parse(optimizer, "stress").ToDictionary();
            try
            {
                trainer.Optimizer.LoadStateDict(state);
            }
            finally
            {
                foreach (var t in state.Values) t.Dispose();
            }
            trainer.Optimizer.ZeroGrad();
            PolicySampler.Generate(copy, [[3, 4], [5]], options, seed: round);
        });
        Assert.True(collections > 10, $"{rounds} rounds under {collections} forced collections");
        // The work itself stayed right: the copy holds exactly the model's weights, the optimizer its own state.
        Assert.Equal(weights, SafeTensors.Serialize(copy.state_dict()));
        Assert.Equal(optimizer, SafeTensors.Serialize(trainer.Optimizer.StateDict()));
    }

    [Fact]
    public void Opt_in_memory_paths_survive_constant_garbage_collection()
    {
        using var model = TinyModels.Make(10);
        using var reference = TinyModels.Make(11);
        model.ActivationCheckpointing = true;
        model.ScaledDotProductAttention = true;
        using var trainer = new PolicyTrainer(model, new OptimizerOptions(LearningRate: 1e-3, MaxTokensPerMicroBatch: 8),
            new PolicyLossOptions(AggregationMode: LossAggregation.SeqMeanTokenSumNorm, KlCoefficient: 0.1));
        var (rounds, collections) = UnderConstantCollection(_ =>
        {
            trainer.TrainStep(
                [new PolicySample([3, 4], [5, 6, 7], [-1f, -1f, -1f], 1f), new PolicySample([8], [9, 10, 11, 12], [-1f, -2f, -1f, -2f], -1f)],
                weight: 0.5, reference);
            trainer.SftStep([([3, 4], [5, 6]), ([7], [8])]);
        });
        Assert.True(collections > 10, $"{rounds} rounds under {collections} forced collections");
        using var scope = NewDisposeScope();
        Assert.All(model.parameters(), p => Assert.False(p.isnan().any().item<bool>()));
    }

    /// <summary>
    /// Runs <paramref name="round"/> (given its index) for <see cref="Duration"/> and at least <see cref="MinRounds"/> times,
    /// while another thread forces collections and finalizers.
    /// </summary>
    private static (int Rounds, int Collections) UnderConstantCollection(Action<int> round)
    {
        var stop = 0;
        var collections = 0;
        var collector = new Thread(() =>
        {
            while (Volatile.Read(ref stop) == 0)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                collections++;
            }
        })
        { IsBackground = true };
        collector.Start();
        var rounds = 0;
        try
        {
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < Duration || rounds < MinRounds) round(rounds++);
        }
        finally
        {
            Volatile.Write(ref stop, 1);
            collector.Join();
        }
        return (rounds, collections);
    }
}
