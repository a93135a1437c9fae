using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;
using TorchSharp;
using static TorchSharp.torch;

namespace RoRecomp.Model.Sampling;

/// <summary>Why a row stopped generating.</summary>
public enum StopReason
{
    /// <summary>It produced the end-of-sequence token (kept as its last token).</summary>
    Eos,

    /// <summary>It produced one of the stop tokens (kept as its last token), e.g. a tool-call close tag.</summary>
    StopToken,

    /// <summary>It reached the maximum number of new tokens.</summary>
    MaxTokens,
}

/// <summary>
/// Sampling settings (HOCON <c>rorecomp.sampling.*</c>). Temperature 0 is greedy; top-k 0 and top-p 1 disable those filters.
/// A row ends (<see cref="StopReason.Eos"/>) on <c>EosId</c> or any of <c>MoreEosIds</c> (a chat model's end-of-turn and
/// end-of-text ids), and pauses (<see cref="StopReason.StopToken"/>) on <c>StopTokenIds</c> (a tool-call close tag).
/// </summary>
public sealed record SamplingOptions(
    int MaxNewTokens,
    int EosId,
    int PadId,
    double Temperature = 1.0,
    double TopP = 1.0,
    int TopK = 0,
    IReadOnlyList<int>? StopTokenIds = null,
    bool UseKvCache = true,
    IReadOnlyList<int>? MoreEosIds = null)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the bad value.</summary>
    public SamplingOptions Validate()
    {
        if (MaxNewTokens < 1) throw new ArgumentException($"sampling max-new-tokens = {MaxNewTokens}: must be >= 1");
        if (!(Temperature >= 0) || !double.IsFinite(Temperature)) throw new ArgumentException($"sampling temperature = {Temperature}: must be >= 0");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"sampling top-p = {TopP}: must be in (0, 1]");
        if (TopK < 0) throw new ArgumentException($"sampling top-k = {TopK}: must be >= 0 (0 = off)");
        return this;
    }
}

/// <summary>One generated continuation.</summary>
/// <param name="Tokens">New token ids, including the eos / stop token that ended it.</param>
/// <param name="LogProbs">Behaviour log-probability of each new token: log-softmax of the logits divided by the temperature
/// (by 1 when greedy), before top-k/top-p filtering, which is what <c>LogProbs.Compute</c> recomputes at the same temperature.</param>
/// <param name="Reason">Why it stopped.</param>
public sealed record GeneratedSequence(int[] Tokens, float[] LogProbs, StopReason Reason);

/// <summary>
/// Batched autoregressive sampling. Prompts of different lengths are left-padded into one batch; the prompt is run
/// once and each new token is decoded against the KV cache (or, with <see cref="SamplingOptions.UseKvCache"/> off, the
/// whole prefix is recomputed every step: the reference the cache is tested and benchmarked against). Finished rows
/// stop growing. Reproducible under a seed. Any prefix is accepted, so a tool loop can resume a row from
/// prompt + response + tool result.
/// </summary>
public static class PolicySampler
{
    /// <summary>Generates one continuation per prompt.</summary>
    public static GeneratedSequence[] Generate(PolicyTransformer model, IReadOnlyList<int[]> prompts, SamplingOptions options, long seed)
    {
        options.Validate();
        if (prompts.Count == 0) return [];
        if (prompts.Any(p => p.Length == 0)) throw new ArgumentException("every prompt needs at least one token", nameof(prompts));
        var b = prompts.Count;
        var maxPrompt = prompts.Max(p => p.Length);
        if (maxPrompt + options.MaxNewTokens > model.Config.MaxPositions)
            throw new ArgumentException($"prompt ({maxPrompt}) + max-new-tokens ({options.MaxNewTokens}) exceeds the model's {model.Config.MaxPositions} positions");
        var device = model.parameters().First().device;
        var stops = new HashSet<int>(options.StopTokenIds ?? []);
        var ends = new HashSet<int>(options.MoreEosIds ?? []) { options.EosId };
        using var gen = new torch.Generator((ulong)seed, device);   // alive (not finalizable) until sampling ends

        var tokens = new long[b, maxPrompt];
        var real = new bool[b, maxPrompt];
        var pos = new long[b, maxPrompt];
        for (var i = 0; i < b; i++)
        {
            var pad = maxPrompt - prompts[i].Length;
            for (var j = 0; j < maxPrompt; j++)
            {
                tokens[i, j] = j < pad ? options.PadId : prompts[i][j - pad];
                real[i, j] = j >= pad;
                pos[i, j] = Math.Max(0, j - pad);
            }
        }

        var outTokens = Enumerable.Range(0, b).Select(_ => new List<int>()).ToArray();
        var outLogProbs = Enumerable.Range(0, b).Select(_ => new List<float>()).ToArray();
        var reasons = Enumerable.Repeat(StopReason.MaxTokens, b).ToArray();
        var done = new bool[b];
        var nextPos = prompts.Select(p => (long)p.Length).ToArray();

        var training = model.training;
        model.eval();
        using var noGrad = no_grad();
        using var cache = options.UseKvCache ? model.NewCache() : null;
        // Keys seen so far (prompt + generated), kept on the CPU side as arrays: small, and rebuilt into tensors each step.
        var allTokens = Enumerable.Range(0, b).Select(i => Enumerable.Range(0, maxPrompt).Select(j => tokens[i, j]).ToList()).ToArray();
        var allReal = Enumerable.Range(0, b).Select(i => Enumerable.Range(0, maxPrompt).Select(j => real[i, j]).ToList()).ToArray();
        var allPos = Enumerable.Range(0, b).Select(i => Enumerable.Range(0, maxPrompt).Select(j => pos[i, j]).ToList()).ToArray();
        try
        {
            for (var step = 0; step < options.MaxNewTokens && done.Contains(false); step++)
            {
                using var scope = NewDisposeScope();
                Tensor logits;
                if (cache is null || step == 0)
                {
                    var len = allTokens[0].Count;
                    var tk = tensor(allTokens.SelectMany(r => r).ToArray(), [b, len], device: device);
                    var ps = tensor(allPos.SelectMany(r => r).ToArray(), [b, len], device: device);
                    var km = tensor(allReal.SelectMany(r => r).ToArray(), [b, len], device: device);
                    logits = model.Forward(tk, ps, km, cache, lastOnly: true)[.., -1, ..];
                }
                else
                {
                    var tk = tensor(allTokens.Select(r => r[^1]).ToArray(), [b, 1], device: device);
                    var ps = tensor(allPos.Select(r => r[^1]).ToArray(), [b, 1], device: device);
                    var km = tensor(allReal.SelectMany(r => r).ToArray(), [b, allReal[0].Count], device: device);
                    logits = model.Forward(tk, ps, km, cache, lastOnly: true)[.., -1, ..];
                }

                var (next, logp) = Sample(logits.to(ScalarType.Float32), options, gen);   // a bf16 copy samples from fp32 logits
                var nextIds = next.cpu().data<long>().ToArray();
                var nextLogp = logp.cpu().data<float>().ToArray();
                for (var i = 0; i < b; i++)
                {
                    if (done[i])
                    {
                        allTokens[i].Add(options.PadId);
                        allReal[i].Add(false);
                        allPos[i].Add(nextPos[i]);
                        continue;
                    }
                    var id = (int)nextIds[i];
                    outTokens[i].Add(id);
                    outLogProbs[i].Add(nextLogp[i]);
                    allTokens[i].Add(id);
                    allReal[i].Add(true);
                    allPos[i].Add(nextPos[i]++);
                    if (ends.Contains(id)) (done[i], reasons[i]) = (true, StopReason.Eos);
                    else if (stops.Contains(id)) (done[i], reasons[i]) = (true, StopReason.StopToken);
                }
            }
        }
        finally
        {
            model.train(training);
        }
        return [.. Enumerable.Range(0, b).Select(i => new GeneratedSequence([.. outTokens[i]], [.. outLogProbs[i]], reasons[i]))];
    }

    /// <summary>Picks one token per row from (B, V) logits; returns the ids and their behaviour log-probs.</summary>
    internal static (Tensor Next, Tensor LogProb) Sample(Tensor logits, SamplingOptions o, torch.Generator gen)
    {
        using var k = new ScalarScope();
        var temperature = o.Temperature > 0 ? o.Temperature : 1.0;
        var logProbs = nn.functional.log_softmax(logits.to(ScalarType.Float32) / k.Of(temperature), -1);
        Tensor next;
        if (o.Temperature == 0)
        {
            next = logits.argmax(-1);
        }
        else
        {
            var filtered = logProbs.clone();
            if (o.TopK > 0 && o.TopK < filtered.shape[1])
            {
                var kth = filtered.topk(o.TopK, -1).values[.., -1].unsqueeze(1);
                filtered = filtered.masked_fill(filtered.lt(kth), k.Of(float.NegativeInfinity));
            }
            if (o.TopP < 1.0)
            {
                var sortedResult = filtered.sort(-1, descending: true);
                var (sorted, order) = (sortedResult.Values, sortedResult.Indices);
                var probs = sorted.softmax(-1);
                var before = probs.cumsum(-1) - probs;               // mass of the tokens ranked above each one
                var drop = before.gt(k.Of(o.TopP));                  // the top token always stays
                sorted = sorted.masked_fill(drop, k.Of(float.NegativeInfinity));
                filtered = full_like(filtered, k.Of(float.NegativeInfinity)).scatter(-1, order, sorted);
            }
            next = multinomial(filtered.softmax(-1), 1, false, gen).squeeze(-1);
        }
        var chosen = logProbs.gather(-1, next.unsqueeze(-1)).squeeze(-1);
        return (next, chosen);
    }
}
