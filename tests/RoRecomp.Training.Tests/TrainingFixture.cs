using RoRecomp.Model.Transformer;
using RoRecomp.Settings;
using RoRecomp.Tasks;
using RoRecomp.Training.Rollouts;
using RoRecomp.Training.Steps;

namespace RoRecomp.Training.Tests;

/// <summary>A micro policy (2 layers, width 32) saved as a warm start, and the settings of a micro run over it.</summary>
public sealed class TrainingFixture : IDisposable
{
    /// <summary>Creates the fixture's warm start in a fresh temporary directory.</summary>
    public TrainingFixture()
    {
        Task = TaskRegistry.Create("thinking", new TaskSettings(Seed: 1));
        Tokenizer = EpisodeRunner.TokenizerFor(Task);
        Config = new TransformerConfig(Tokenizer.VocabSize, 32, 64, 2, 2, 1, 160);
        WarmStartPath = WarmStart.SaveRandom(Path.Combine(Directory, "warm"), "thinking", Config, seed: 1);
    }

    /// <summary>The fixture's temporary directory.</summary>
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("rorecomp-training-").FullName;

    /// <summary>The thinking task (seed 1).</summary>
    public IRlTask Task { get; }

    /// <summary>Its tokenizer.</summary>
    public Model.Tokenizers.CharTokenizer Tokenizer { get; }

    /// <summary>The micro policy's shape.</summary>
    public TransformerConfig Config { get; }

    /// <summary>The saved warm start.</summary>
    public string WarmStartPath { get; }

    /// <summary>Settings of a micro run (4 prompts x 4 samples in leases of 2, short responses) plus <paramref name="more"/>.</summary>
    public RoRecompSettings Settings(params string[] more) => SettingsLoader.Load(null,
    [
        $"run.run-dir={Path.Combine(Directory, "run")}", "run.prompts-per-step=4", "run.samples-per-prompt=4", "run.lease-size=2",
        "run.eval-size=8", "sampling.max-new-tokens=24", "compensation.batch-size=6", "policy-loss.lr=1e-3",
        $"model.checkpoint={WarmStartPath}", .. more,
    ]);

    /// <summary>A policy loaded with the warm start.</summary>
    public PolicyTransformer Policy()
    {
        var model = new PolicyTransformer(Config);
        WarmStart.Load(model, WarmStartPath);
        return model;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
