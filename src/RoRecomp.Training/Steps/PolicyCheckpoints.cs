using System.Collections.Immutable;
using System.Globalization;
using RoRecomp.Core.Coordination;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Training;
using RoRecomp.Model.Transformer;

namespace RoRecomp.Training.Steps;

/// <summary>Where a (resumed) learner continues from: the checkpoint loaded (null = the warm start), its version, and the candidates that failed.</summary>
/// <param name="From">The checkpoint loaded, or null for the warm start.</param>
/// <param name="PolicyVersion">Policy version of the loaded weights.</param>
/// <param name="Skipped">Candidates that did not load, each with why.</param>
public sealed record PolicyResume(RunCheckpoint? From, long PolicyVersion, ImmutableArray<string> Skipped);

/// <summary>The learner's checkpoints: model + optimizer + RNG, written atomically and verified on load.</summary>
public static class PolicyCheckpoints
{
    /// <summary>
    /// Loads the first of <paramref name="candidates"/> (newest first) that loads and verifies into
    /// <paramref name="model"/> and <paramref name="trainer"/>'s optimizer (and restores the RNG). Only checkpoints
    /// inside <paramref name="checkpointDirectory"/> are loaded (paths come from a journal or a message: never a file a
    /// peer names); a candidate recorded under another folder (the run directory was moved or copied) is loaded from
    /// the checkpoint of the same name in <paramref name="checkpointDirectory"/>, if there is one. With no candidates it loads <paramref name="warmStart"/> at version 0; with candidates of which
    /// none loads it returns null (the run cannot continue), <paramref name="skipped"/> saying why.
    /// </summary>
    public static PolicyResume? Resume(
        PolicyTransformer model, PolicyTrainer trainer, IReadOnlyList<RunCheckpoint> candidates, string checkpointDirectory, string warmStart,
        out ImmutableArray<string> skipped)
    {
        var reasons = ImmutableArray.CreateBuilder<string>();
        var own = Path.GetFullPath(checkpointDirectory) + Path.DirectorySeparatorChar;
        foreach (var committed in candidates)
        {
            var candidate = committed;
            var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(committed.Path));
            if (!Path.GetFullPath(committed.Path).StartsWith(own, StringComparison.Ordinal) && name.Length > 0 && name != ".." && Directory.Exists(own + name))
                candidate = committed with { Path = own + name };   // the run directory was moved or copied: its own copy
            if (!Path.GetFullPath(candidate.Path).StartsWith(own, StringComparison.Ordinal))
            {
                reasons.Add($"{candidate.Path}: not inside this run's checkpoint folder {own}; not loaded");
                continue;
            }
            try
            {
                using var cp = CheckpointStore.Load(candidate.Path);
                StateDicts.Load(model, cp.Model, strict: true, cp.Path);
                trainer.Optimizer.LoadStateDict(cp.Optimizer);
                if (cp.Manifest.RngState is { } rng) RngState.Restore(rng);
                skipped = reasons.ToImmutable();
                return new PolicyResume(candidate, cp.Manifest.PolicyVersion, skipped);
            }
            catch (CheckpointException e)
            {
                reasons.Add(e.Message);
            }
        }
        skipped = reasons.ToImmutable();
        if (candidates.Count > 0) return null;
        WarmStart.Load(model, warmStart);
        return new PolicyResume(null, 0, skipped);
    }

    /// <summary>Writes the learner's checkpoint after <paramref name="step"/> (kept: the newest <paramref name="keepLast"/>); returns its directory.</summary>
    public static string Save(
        string checkpointDirectory, int keepLast, long step, long policyVersion, PolicyTransformer model, PolicyTrainer trainer, TransformerConfig config,
        string task, int seed)
    {
        var store = new CheckpointStore(checkpointDirectory, keepLast);
        // The optimizer's state dict holds its live moment tensors: they must not be disposed here.
        return store.Save(step, policyVersion, model.state_dict(), trainer.Optimizer.StateDict(), PolicyWeights.ConfigJson(config), RngState.Capture(),
            new Dictionary<string, string>
            {
                ["task"] = task,
                ["kind"] = "rl",
                ["seed"] = seed.ToString(CultureInfo.InvariantCulture),
            });
    }
}
