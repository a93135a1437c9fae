using System.Text.Json.Serialization;
using RoRecomp.Model.Tokenizers;
using RoRecomp.Model.Transformer;
using RoRecomp.Settings;
using RoRecomp.Tasks;
using RoRecomp.Training.Sft;

namespace RoRecomp.Training.Steps;

/// <summary>Held-out figures after step <paramref name="Step"/>: <paramref name="Responses"/> sampled responses over the held-out prompts.</summary>
/// <param name="Step">The step the policy was evaluated after (0 = the warm start).</param>
/// <param name="Accuracy">Share of correct responses.</param>
/// <param name="MeanLength">Mean response length in tokens.</param>
/// <param name="ToolCalls">Mean tool calls per response.</param>
/// <param name="FormatValid">Share of responses in the task's exact format.</param>
/// <param name="Responses">Responses sampled.</param>
/// <param name="UnnecessaryToolCalls">Mean unnecessary tool calls per response for a task that audits them (<see cref="IToolCallAudit"/>), else null.</param>
public sealed record HeldOutEvaluation(
    long Step, double Accuracy, double MeanLength, double ToolCalls, double FormatValid, int Responses,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? UnnecessaryToolCalls = null)
{
    /// <summary>
    /// Evaluates <paramref name="model"/> after step <paramref name="step"/> on the held-out split: <c>run.eval-size</c>
    /// responses, every held-out prompt (up to eval-size) with as many samples each as that takes, at temperature 1.
    /// The same seed at every evaluation: differences between evaluations come from the policy, not the draw.
    /// </summary>
    public static HeldOutEvaluation Run(PolicyTransformer model, IRlTask task, ITokenizer tokenizer, RoRecompSettings settings, long step)
    {
        var size = settings.Run.EvalSize;
        var count = (int)Math.Min(size, task.DistinctPrompts(Split.Test));
        var samples = (size + count - 1) / count;
        var prompts = task.Prompts(Split.Test, 0, count).ToList();
        var r = SftRunner.Evaluate(model, task, prompts, settings.Sampling.MaxNewTokens, (settings.Run.Seed * 1_000_003L) + 7, samples, tokenizer);
        return new HeldOutEvaluation(step, r.Accuracy, r.MeanLength, r.ToolCalls, r.FormatValid, count * samples, r.UnnecessaryToolCalls);
    }
}
