using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using RoRecomp.Tasks;
using RoRecomp.Tasks.Datasets;
using RoRecomp.Tasks.Synthetic;

namespace RoRecomp.Tasks.Tests;

/// <summary>
/// Pins the exact prompt streams, splits, ids, warm-start traces and verdicts of every task (digests computed with the
/// code before the task base and the shared SplitMix64 were introduced): a refactoring must not change a seeded run.
/// </summary>
public sealed class GoldenStreamTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-golden-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string, string> Synthetic => new()
    {
        { "thinking", "B55165768CBB0E7CC14D4FC7FEA59D855FE84B2EAD4AB48542D39D477D064CF3" },
        { "thinking-large", "27E71B272565D3342552ADA4FBFF4B76EB10124262E1B27225847AB4FDD2B20B" },
        { "zero-rl", "42B7832102A9D178E565585E55406F693EA454F411E1579FA9290312687C462F" },
        { "zero-rl-large", "BAA1AB7685F3C1A476FB9C8EF3D973FB610DF33D11BAF5389408499F90570489" },
        { "agentic", "5A3AEED50DEBCA5B2E11AECAB197B70A4DA6E7285A69888149BB85A2AF773ED6" },
        { "agentic-mixed", "DB5D517C613EC44488049A6182DB7F86A8E6607B094FF943B13E236BCB8A8E6E" },   // re-pinned: the sum became a tool call (SumCallRate 1), EasyCallRate 0.5
    };

    [Theory]
    [MemberData(nameof(Synthetic))]
    public void Synthetic_streams_are_bit_identical(string config, string digest)
    {
        IRlTask task = config switch
        {
            "thinking" => new ThinkingTask(),
            "thinking-large" => new ThinkingTask(new ThinkingOptions(Terms: 5, MaxTerm: 20) { Seed = 7 }),
            "zero-rl" => new ZeroRlTask(new ZeroRlOptions { Seed = 3 }),
            "zero-rl-large" => new ZeroRlTask(new ZeroRlOptions(Digits: 4) { Seed = 11, TestPercent = 25 }),
            "agentic" => new AgenticTask(new AgenticOptions { Seed = 1, TestPercent = 20 }),
            "agentic-mixed" => new MixedAgenticTask(new MixedAgenticOptions { Seed = 5 }),
            _ => throw new ArgumentOutOfRangeException(nameof(config)),
        };
        Assert.Equal(digest, Digest(task));
    }

    [Fact]
    public void Jsonl_streams_are_bit_identical()
    {
        var rows = Enumerable.Range(0, 300).Select(i => $$"""{"question": "What is {{i}} + {{i % 7}}?", "answer": "#### {{i + (i % 7)}}"}""").ToArray();
        var train = Path.Combine(_dir, "train.jsonl");
        File.WriteAllLines(train, rows);
        var test = Path.Combine(_dir, "test.jsonl");
        File.WriteAllLines(test, rows.Take(40));
        var held = new JsonlTask(new JsonlTaskOptions(train, null, JsonlFormat.Gsm8k, "Q: {question}", Seed: 4, TestPercent: 15));
        var files = new JsonlTask(new JsonlTaskOptions(train, test, JsonlFormat.Gsm8k, Seed: 9));
        Assert.Equal("8C79B43F3AD4681F6F4D9E1F213977A9D510F642F49D038FA4D9AD38C4D5E87D", Digest(held));
        Assert.Equal("F6F5F65BFE9ECC95EC61D93875C57A245316A64E1B9580CF517FEEA7FBC7D1CE", Digest(files));
    }

    private static string Digest(IRlTask task)
    {
        var sb = new StringBuilder();
        sb.Append(task.Name).Append('|').Append(task.Alphabet).Append('|').AppendJoin(',', task.SpecialTokens).Append('\n');
        foreach (var split in new[] { Split.Train, Split.Test })
        {
            long distinct = task.DistinctPrompts(split);
            sb.Append(split).Append(' ').Append(distinct).Append('\n');
            var indices = Enumerable.Range(0, 300).Select(i => (long)i)
                .Concat(Enumerable.Range(-5, 10).Select(i => distinct + i).Where(i => i >= 0))
                .Concat(Enumerable.Range(0, 5).Select(i => 50_000L + i));
            foreach (var i in indices)
            {
                var p = task.GetPrompt(split, i);
                var trace = task.Trace(p, new Random((int)i));
                sb.Append(CultureInfo.InvariantCulture, $"{p.Id}|{p.Split}|{p.Index}|{p.Text}|{p.Answer}|{string.Join(',', p.Operands)}|{trace}|{task.Verify(p, trace)}\n");
            }
        }
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }
}
