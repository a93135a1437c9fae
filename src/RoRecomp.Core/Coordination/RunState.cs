using System.Collections.Immutable;

namespace RoRecomp.Core.Coordination;

/// <summary>A checkpoint the learner wrote and the run coordinator committed: where a resumed run starts.</summary>
/// <param name="Step">Last training step the checkpoint includes.</param>
/// <param name="Cursor">Data cursor after that step: the next step's first train-prompt index.</param>
/// <param name="PolicyVersion">Policy version (optimizer updates so far) of the checkpointed weights.</param>
/// <param name="Path">The checkpoint directory.</param>
public sealed record RunCheckpoint(long Step, long Cursor, long PolicyVersion, string Path);

/// <summary>An event of the run coordinator's journal.</summary>
public interface IRunEvent;

/// <summary>A checkpoint is durable on disk and is now the point a resumed run continues from.</summary>
public sealed record CheckpointCommitted(RunCheckpoint Checkpoint) : IRunEvent;

/// <summary>
/// The run coordinator's durable state, event-sourced: the committed checkpoints, newest last. Only committed
/// checkpoints count; steps trained after the last one are re-run on resume (sampling is seeded by step, so the re-run
/// samples the same responses, and the replay buffer ignores responses it already holds or held).
/// </summary>
public sealed record RunState(ImmutableList<RunCheckpoint> Checkpoints)
{
    /// <summary>A run that has committed nothing: it starts from the warm start at step 0, cursor 0, version 0.</summary>
    public static RunState Empty { get; } = new(ImmutableList<RunCheckpoint>.Empty);

    /// <summary>The newest committed checkpoint, or null.</summary>
    public RunCheckpoint? Latest => Checkpoints.IsEmpty ? null : Checkpoints[^1];

    /// <summary>
    /// Folds one event in. A commit at step s replaces any committed checkpoint at s or later (a run that resumed from
    /// an earlier checkpoint re-trains those steps, so their old checkpoints no longer describe this run).
    /// </summary>
    public RunState Apply(IRunEvent e) => e switch
    {
        CheckpointCommitted c => this with { Checkpoints = Checkpoints.RemoveAll(x => x.Step >= c.Checkpoint.Step).Add(c.Checkpoint) },
        _ => throw new ArgumentException($"unknown run event {e.GetType().Name}", nameof(e)),
    };
}
