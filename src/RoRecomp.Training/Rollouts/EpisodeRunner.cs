using RoRecomp.Model.Sampling;
using RoRecomp.Model.Tokenizers;
using RoRecomp.Model.Transformer;
using RoRecomp.Tasks;

namespace RoRecomp.Training.Rollouts;

/// <summary>One sampled episode of a task, verified.</summary>
/// <param name="Prompt">The task prompt.</param>
/// <param name="PromptTokens">Its token ids.</param>
/// <param name="Tokens">Response token ids: the policy's tokens and any tool results the environment inserted.</param>
/// <param name="LogProbs">Behaviour log-prob per response token (0 for inserted tokens).</param>
/// <param name="ActionMask">True where the policy produced the token.</param>
/// <param name="Text">The response as text.</param>
/// <param name="Verdict">The task verifier's verdict.</param>
public sealed record Episode(TaskPrompt Prompt, int[] PromptTokens, int[] Tokens, float[] LogProbs, bool[] ActionMask, string Text, Verdict Verdict);

/// <summary>One sampled episode before verification (what a sampler hands to the verifiers).</summary>
/// <param name="Prompt">The task prompt.</param>
/// <param name="PromptTokens">Its token ids.</param>
/// <param name="Tokens">Response token ids, tool results included.</param>
/// <param name="LogProbs">Behaviour log-prob per response token (0 for inserted tokens).</param>
/// <param name="ActionMask">True where the policy produced the token.</param>
/// <param name="Text">The response as text.</param>
public sealed record SampledEpisode(TaskPrompt Prompt, int[] PromptTokens, int[] Tokens, float[] LogProbs, bool[] ActionMask, string Text);

/// <summary>
/// Samples episodes of a task from the policy, batch-friendly, with the tool loop of agentic tasks: every row samples
/// until end-of-sequence or the tool-call close tag; rows that called a tool get the environment's answer appended
/// (not trained on) and resume together in the next round, until each row ends or its response budget is spent.
/// </summary>
public static class EpisodeRunner
{
    /// <summary>The character tokenizer of a synthetic task (its alphabet and special tokens).</summary>
    public static CharTokenizer TokenizerFor(IRlTask task)
    {
        if (string.IsNullOrEmpty(task.Alphabet))
            throw new ArgumentException($"task '{task.Name}' has no character alphabet: it needs a model tokenizer (tokenizer.json)");
        return new CharTokenizer(task.Alphabet, task.SpecialTokens);
    }

    /// <summary>Runs and verifies <paramref name="samplesPerPrompt"/> episodes per prompt (grouped by prompt, in order).</summary>
    public static IReadOnlyList<Episode> Run(
        PolicyTransformer model, ITokenizer tokenizer, IRlTask task, IReadOnlyList<TaskPrompt> prompts, int samplesPerPrompt,
        int maxResponseTokens, double temperature, double topP, int topK, long seed) =>
        [.. Sample(model, tokenizer, task, prompts, samplesPerPrompt, maxResponseTokens, temperature, topP, topK, seed)
            .Select(e => new Episode(e.Prompt, e.PromptTokens, e.Tokens, e.LogProbs, e.ActionMask, e.Text, task.Verify(e.Prompt, e.Text)))];

    /// <summary>Samples <paramref name="samplesPerPrompt"/> episodes per prompt (grouped by prompt, in order), unverified.</summary>
    public static IReadOnlyList<SampledEpisode> Sample(
        PolicyTransformer model, ITokenizer tokenizer, IRlTask task, IReadOnlyList<TaskPrompt> prompts, int samplesPerPrompt,
        int maxResponseTokens, double temperature, double topP, int topK, long seed)
    {
        if (samplesPerPrompt < 1) throw new ArgumentException($"samples per prompt = {samplesPerPrompt}: must be >= 1");
        var tools = task.Tools;
        int? callClose = null;
        if (tools is not null)
        {
            callClose = tokenizer.SpecialId(tools.CallClose)
                ?? throw new ArgumentException($"the tokenizer has no single token for the tool-call close tag '{tools.CallClose}'");
        }
        var rows = prompts.SelectMany(p => Enumerable.Range(0, samplesPerPrompt).Select(_ => new Row(p, tokenizer.Encode(p.Text)))).ToList();
        var round = 0;
        while (true)
        {
            var active = rows.Where(r => !r.Done).ToList();
            if (active.Count == 0) break;
            var budget = active.Min(r => maxResponseTokens - r.Tokens.Count);
            var options = new SamplingOptions(
                Math.Max(1, budget), tokenizer.EosId, tokenizer.PadId, temperature, topP, topK,
                callClose is null ? null : [callClose.Value], MoreEosIds: tokenizer.EndIds);
            var generated = PolicySampler.Generate(model, [.. active.Select(r => r.Context())], options, seed + (1_000_003L * round++));
            var needTool = new List<Row>();
            for (var i = 0; i < active.Count; i++)
            {
                var row = active[i];
                var g = generated[i];
                row.Tokens.AddRange(g.Tokens);
                row.LogProbs.AddRange(g.LogProbs);
                row.Actions.AddRange(Enumerable.Repeat(true, g.Tokens.Length));
                if (g.Reason == StopReason.Eos || row.Tokens.Count >= maxResponseTokens) row.Done = true;
                else if (g.Reason == StopReason.StopToken) needTool.Add(row);
            }
            if (needTool.Count == 0) continue;
            var steps = tools!.StepAll([.. needTool.Select(r => tokenizer.Decode(r.Tokens))]);
            for (var i = 0; i < needTool.Count; i++)
            {
                var row = needTool[i];
                var inserted = tokenizer.Encode(steps[i].Append);
                var room = Math.Max(0, maxResponseTokens - row.Tokens.Count);
                inserted = inserted[..Math.Min(inserted.Length, room)];
                row.Tokens.AddRange(inserted);
                row.LogProbs.AddRange(new float[inserted.Length]);
                row.Actions.AddRange(new bool[inserted.Length]);
                if (steps[i].Done || row.Tokens.Count >= maxResponseTokens) row.Done = true;
            }
        }
        return [.. rows.Select(r => new SampledEpisode(r.Prompt, r.PromptTokens, [.. r.Tokens], [.. r.LogProbs], [.. r.Actions], tokenizer.Decode(r.Tokens)))];
    }

    private sealed class Row(TaskPrompt prompt, int[] promptTokens)
    {
        public TaskPrompt Prompt { get; } = prompt;

        public int[] PromptTokens { get; } = promptTokens;

        public List<int> Tokens { get; } = [];

        public List<float> LogProbs { get; } = [];

        public List<bool> Actions { get; } = [];

        public bool Done { get; set; }

        public int[] Context() => [.. PromptTokens, .. Tokens];
    }
}
