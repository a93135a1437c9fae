using RoRecomp.Training.Rollouts;
using RoRecomp.Model.Runtime;
using RoRecomp.Model.Transformer;
using RoRecomp.Tasks;
using static TorchSharp.torch;

namespace RoRecomp.Training.Tests;

public class EpisodeRunnerTests
{
    [Fact]
    public void Tool_calls_are_answered_by_the_environment_and_masked_out_of_training()
    {
        TorchRuntime.EnsureLoaded();
        var task = TaskRegistry.Create("agentic");
        var tok = EpisodeRunner.TokenizerFor(task);
        TorchRuntime.ManualSeed(3);
        using var model = new PolicyTransformer(new TransformerConfig(tok.VocabSize, 32, 64, 2, 4, 2, 256));
        // Bias the untrained model towards opening and closing tool calls so the loop is exercised.
        var open = tok.SpecialId("<tool>")!.Value;
        var close = tok.SpecialId("</tool>")!.Value;
        using (no_grad())
        using (NewDisposeScope())
        {
            var emb = model.state_dict()["model.embed_tokens.weight"];
            emb[open].copy_(emb[close]); // same embedding: after <tool> the model tends to close it again
        }
        var prompts = task.Prompts(Split.Train, 0, 8).ToList();
        var episodes = EpisodeRunner.Run(model, tok, task, prompts, 2, 48, 1.5, 1.0, 0, 11);
        Assert.Equal(16, episodes.Count);
        Assert.Equal(prompts.SelectMany(p => new[] { p.Id, p.Id }), episodes.Select(e => e.Prompt.Id));
        var resultOpen = tok.SpecialId("<result>")!.Value;
        foreach (var e in episodes)
        {
            Assert.True(e.Tokens.Length <= 48);
            Assert.Equal(e.Tokens.Length, e.LogProbs.Length);
            Assert.Equal(e.Tokens.Length, e.ActionMask.Length);
            Assert.Equal(tok.Decode(e.Tokens), e.Text);
            for (var i = 0; i < e.Tokens.Length; i++)
            {
                if (!e.ActionMask[i]) Assert.Equal(0f, e.LogProbs[i]);
                if (e.Tokens[i] == resultOpen && i > 0 && e.Tokens[i - 1] == close) Assert.False(e.ActionMask[i]); // inserted by the environment
            }
        }
        // Some episode made a call and got an answer inserted (environment tokens are never the policy's).
        Assert.Contains(episodes, e => e.ActionMask.Contains(false));
        Assert.All(episodes.Where(e => e.ActionMask.Contains(false)), e => Assert.Contains("<result>", e.Text));
    }
}
