using RoRecomp.Training.Steps;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Metrics;

namespace RoRecomp.Training.Runs;

/// <summary>One finished step as the coordinator reports it (metrics.jsonl and the progress display).</summary>
/// <param name="Online">The online batch's metrics (with compensation and buffer sizes).</param>
/// <param name="Learner">The update's metrics.</param>
/// <param name="Eval">The held-out evaluation after this step, when one was due.</param>
/// <param name="Cursor">Data cursor after the step.</param>
/// <param name="StepSeconds">Wall seconds from opening the step to its report.</param>
/// <param name="Checkpoint">Checkpoint committed after this step, or null.</param>
public sealed record StepRecord(StepMetrics Online, LearnerMetrics Learner, HeldOutEvaluation? Eval, long Cursor, double StepSeconds, string? Checkpoint);

/// <summary>Where the run starts: a fresh run (step 0) or a resumed one.</summary>
/// <param name="From">The checkpoint resumed from, or null (warm start).</param>
/// <param name="PolicyVersion">Policy version at the start.</param>
/// <param name="TotalSteps">Steps of the run.</param>
/// <param name="Skipped">Checkpoints that did not load, with why.</param>
public sealed record RunStart(RunCheckpoint? From, long PolicyVersion, long TotalSteps, IReadOnlyList<string> Skipped);

/// <summary>
/// Receives the run's progress from the coordinator, on the coordinator's thread, in order: <see cref="Started"/>, the
/// warm-start evaluation (fresh runs), one <see cref="StepCompleted"/> per step, then <see cref="Finished"/> or
/// <see cref="Failed"/>. Implementations write metrics and drive the display; they must not block for long.
/// </summary>
public interface IRunReporter
{
    /// <summary>The policy is loaded and the run starts (or resumes).</summary>
    void Started(RunStart start);

    /// <summary>The warm-start policy's held-out figures (step 0 of a fresh run).</summary>
    void Baseline(HeldOutEvaluation evaluation);

    /// <summary>A step is trained (and its checkpoint, if any, committed).</summary>
    void StepCompleted(StepRecord record);

    /// <summary>Something the user should know while the run goes on (a sampler joined or left, the run waits for samplers).</summary>
    void Notice(string message);

    /// <summary>Every step is done.</summary>
    void Finished();

    /// <summary>The run stopped on an error; it can be resumed from its last committed checkpoint.</summary>
    void Failed(string reason);

    /// <summary>
    /// The run stopped because its journal could not be reached (the connection to the database was lost or refused),
    /// not because anything is damaged: nothing committed is lost, and the job that started the node may start it again
    /// from its last commit, as <c>--resume</c> would, once the database is back (<c>train</c> does, a few times).
    /// A reporter that cannot restart the run ends it as <see cref="Failed"/>.
    /// </summary>
    void Interrupted(string reason) => Failed(reason);
}
