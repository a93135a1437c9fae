using RoRecomp.Tasks;
using RoRecomp.Tasks.Synthetic;
using RoRecomp.Tasks.Tools;

namespace RoRecomp.Tasks.Tests;

public sealed class ToolEnvironmentTests
{
    private readonly CalcToolEnvironment _env = new();

    [Theory]
    [InlineData("calc:12*7", "84")]
    [InlineData("calc: 84 + 3", "87")]
    [InlineData("calc:-(2+3)*4", "-20")]
    [InlineData("calc:100/4-1", "24")]
    [InlineData("calc:((1+2)*(3+4))", "21")]
    [InlineData("calc:0", "0")]
    public void Answers_well_formed_calls(string body, string expected)
    {
        var step = _env.Step($"12*7+3=<think><tool>{body}</tool>");
        Assert.Equal($"<result>{expected}</result>", step.Append);
        Assert.False(step.Done);
        Assert.Null(step.Error);
    }

    [Theory]
    [InlineData("calc:12**7", "syntax")]
    [InlineData("calc:", "syntax")]
    [InlineData("12*7", "syntax")]
    [InlineData("calc:(1+2", "syntax")]
    [InlineData("calc:1+2)", "syntax")]
    [InlineData("calc:abc", "syntax")]
    [InlineData("python:1+1", "tool")]
    [InlineData("calc:7/0", "div0")]
    [InlineData("calc:7/2", "inexact")]
    [InlineData("calc:99999*99999", "too-large")]
    [InlineData("calc:9999999999", "too-large")]
    [InlineData("calc:1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1", "long")]
    [InlineData("calc:---------1", "syntax")]
    [InlineData("calc:(((((((((1)))))))))", "syntax")]
    public void Rejects_bad_calls_with_an_error_result_and_continues(string body, string code)
    {
        var step = _env.Step($"<think><tool>{body}</tool>");
        Assert.Equal($"<result>error:{code}</result>", step.Append);
        Assert.Equal(code, step.Error);
        Assert.False(step.Done);
    }

    [Fact]
    public void The_call_past_the_limit_ends_the_episode()
    {
        var episode = "<think>";
        for (int i = 1; i <= _env.MaxCalls; i++)
        {
            episode += "<tool>calc:1+1</tool>";
            var step = _env.Step(episode);
            Assert.False(step.Done);
            episode += step.Append;
        }
        episode += "<tool>calc:1+1</tool>";
        var last = _env.Step(episode);
        Assert.True(last.Done);
        Assert.Equal("<result>error:calls</result>", last.Append);
    }

    [Theory]
    [InlineData("")]
    [InlineData("<think>1+1=2;")]
    [InlineData("</tool>")]
    public void Text_not_ending_in_a_call_gets_an_error_and_ends(string episode)
    {
        var step = _env.Step(episode);
        Assert.NotNull(step.Error);
        Assert.Equal(episode.Length > 0 && episode.EndsWith("</tool>", StringComparison.Ordinal) ? false : true, step.Done);
    }

    [Fact]
    public void Is_stateless_so_one_instance_serves_interleaved_episodes()
    {
        var a = _env.Step("<tool>calc:2*3</tool>");
        var b = _env.Step("<tool>calc:5*5</tool><result>25</result><tool>calc:1+1</tool>");
        var a2 = _env.Step("<tool>calc:2*3</tool>");
        Assert.Equal(a, a2);
        Assert.Equal("<result>2</result>", b.Append);
        IToolEnvironment env = _env;
        var batch = env.StepAll(["<tool>calc:2*3</tool>", "<tool>calc:5*5</tool><result>25</result><tool>calc:1+1</tool>", "oops"]);
        Assert.Equal([a, b], batch.Take(2));
        Assert.True(batch[2].Done);
    }

    [Fact]
    public void Random_model_output_never_throws()
    {
        var rng = new Random(1);
        const string chars = "0123456789+-*/()=;: calcxyz<>/";
        for (int i = 0; i < 3000; i++)
        {
            var body = new string([.. Enumerable.Range(0, rng.Next(0, 40)).Select(_ => chars[rng.Next(chars.Length)])]);
            var step = _env.Step("<tool>" + body + "</tool>");
            Assert.StartsWith("<result>", step.Append, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Agentic_verifier_rejects_results_the_model_wrote_itself()
    {
        var task = new AgenticTask();
        var p = task.GetPrompt(Split.Train, 0);
        long product = p.Operands[0] * p.Operands[1];
        string call = $"<tool>calc:{p.Operands[0]}*{p.Operands[1]}</tool>";
        string good = $"<think>{call}<result>{product}</result>{product}+{p.Operands[2]}={p.Answer};</think><answer>{p.Answer}</answer><eos>";
        var ok = task.Verify(p, good);
        Assert.True(ok.Correct);
        Assert.Equal(1, ok.ToolCalls);
        var forged = good.Replace($"<result>{product}</result>", $"<result>{product + 1}</result>", StringComparison.Ordinal);
        Assert.False(task.Verify(p, forged).Correct);
        Assert.False(task.Verify(p, $"<think><result>{product}</result></think><answer>{p.Answer}</answer>").FormatValid);
        var noTool = task.Verify(p, $"<think>{p.Operands[0]}*{p.Operands[1]}={product};{product}+{p.Operands[2]}={p.Answer};</think><answer>{p.Answer}</answer>");
        Assert.True(noTool.Correct);
        Assert.Equal(0, noTool.ToolCalls);
        Assert.Same(task.Tools, task.Tools);
    }
}
