using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;
using static TorchSharp.torch;

namespace RoRecomp.Model.Training;

/// <summary>One prompt + response pair to score or train on. <paramref name="ActionMask"/> marks the response tokens the policy produced (null = all).</summary>
public sealed record ScoredSequence(int[] Prompt, int[] Response, bool[]? ActionMask = null);

/// <summary>Per-token log-probs (and entropies) of responses, aligned to response positions, with their mask.</summary>
/// <param name="LogProbs">(B, R) log-probability of each response token; 0 where masked.</param>
/// <param name="Entropy">(B, R) entropy of the predictive distribution at each response token.</param>
/// <param name="Mask">(B, R) float 1 where the token is a real, policy-produced response token.</param>
public sealed record ResponseScores(Tensor LogProbs, Tensor Entropy, Tensor Mask);

/// <summary>
/// Log-probabilities of given responses under the policy, computed the way sampling recorded them: one right-padded
/// batch of prompt + response, logits at position t predict token t + 1, divided by the sampling temperature.
/// </summary>
public static class LogProbs
{
    /// <summary>Scores a batch (with gradients unless the caller is in <c>no_grad</c>). Tensors are created in the caller's dispose scope.</summary>
    public static ResponseScores Compute(PolicyTransformer model, IReadOnlyList<ScoredSequence> batch, double temperature = 1.0, int padId = 0)
    {
        if (batch.Count == 0) throw new ArgumentException("empty batch", nameof(batch));
        if (batch.Any(s => s.Prompt.Length == 0)) throw new ArgumentException("every sequence needs a prompt token");
        var b = batch.Count;
        var len = batch.Max(s => s.Prompt.Length + s.Response.Length);
        var r = Math.Max(1, batch.Max(s => s.Response.Length));
        var device = model.parameters().First().device;
        var tokens = new long[b * len];
        var real = new bool[b * len];
        var positions = new long[b * len];
        var gatherIndex = new long[b * r];   // index into the (len - 1) logits rows predicting each response token
        var targets = new long[b * r];
        var mask = new float[b * r];
        for (var i = 0; i < b; i++)
        {
            var s = batch[i];
            if (s.ActionMask != null && s.ActionMask.Length != s.Response.Length)
                throw new ArgumentException($"sequence {i}: action mask has {s.ActionMask.Length} entries for {s.Response.Length} response tokens");
            var full = s.Prompt.Concat(s.Response).ToArray();
            for (var j = 0; j < len; j++)
            {
                tokens[(i * len) + j] = j < full.Length ? full[j] : padId;
                real[(i * len) + j] = j < full.Length;
                positions[(i * len) + j] = j;
            }
            for (var k = 0; k < r; k++)
            {
                var inRange = k < s.Response.Length;
                gatherIndex[(i * r) + k] = inRange ? s.Prompt.Length - 1 + k : 0;
                targets[(i * r) + k] = inRange ? s.Response[k] : 0;
                mask[(i * r) + k] = inRange && (s.ActionMask?[k] ?? true) ? 1f : 0f;
            }
        }
        var logits = model.Forward(tensor(tokens, [b, len], device: device), tensor(positions, [b, len], device: device), tensor(real, [b, len], device: device));
        var idx = tensor(gatherIndex, [b, r], device: device);
        var picked = logits.gather(1, idx.unsqueeze(-1).expand(b, r, logits.shape[2]));      // (B, R, V)
        using var scalars = new ScalarScope();
        var logSoftmax = nn.functional.log_softmax(picked / scalars.Of(temperature), -1);
        var m = tensor(mask, [b, r], device: device);
        var lp = logSoftmax.gather(-1, tensor(targets, [b, r], device: device).unsqueeze(-1)).squeeze(-1) * m;
        var entropy = -(logSoftmax.exp() * logSoftmax).sum(-1);
        return new ResponseScores(lp, entropy, m);
    }
}
