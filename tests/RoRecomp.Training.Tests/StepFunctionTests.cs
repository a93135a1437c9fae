using System.Collections.Immutable;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rewards;
using RoRecomp.Core.Rollouts;
using RoRecomp.Core.Schedules;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Model.Transformer;
using RoRecomp.Settings;
using RoRecomp.Tasks;
using RoRecomp.Training.Loop;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Steps;

namespace RoRecomp.Training.Tests;

/// <summary>The Training layer's step functions, called as plain code (no actors).</summary>
public sealed class StepFunctionTests(TrainingFixture fixture) : IClassFixture<TrainingFixture>
{
    [Fact]
    public void A_plan_covers_the_cursors_prompts_in_leases_with_stable_ids()
    {
        var run = fixture.Settings().Run;
        var (leases, ids) = StepPlanner.Plan(fixture.Task, run, step: 3, cursor: 8, policyVersion: 2);
        Assert.Equal([8L, 9, 10, 11], leases.SelectMany(l => l.PromptIndices));
        Assert.Equal(["s000003-l000", "s000003-l001"], leases.Select(l => l.LeaseId));
        Assert.All(leases, l => Assert.Equal(2, l.PolicyVersion));
        Assert.Equal([.. leases.SelectMany(l => l.PromptIndices).Select(i => RunContext.TrainPrompt(fixture.Task, i).Id)], ids.ToArray());
        Assert.Equal(ids.ToArray(), StepPlanner.Plan(fixture.Task, run, 3, 8, 2).PromptIds.ToArray());
    }

    [Fact]
    public void Sampling_a_lease_is_seeded_scoring_fills_the_verdict_and_recomposition_splits_every_response()
    {
        var s = fixture.Settings();
        using var model = fixture.Policy();
        var (leases, ids) = StepPlanner.Plan(fixture.Task, s.Run, 1, 0, 0);
        var groups = leases.SelectMany(l => LeaseSampler.Sample(model, fixture.Tokenizer, fixture.Task, s.Sampling, l, 0)).ToList();
        var again = leases.SelectMany(l => LeaseSampler.Sample(model, fixture.Tokenizer, fixture.Task, s.Sampling, l, 0)).ToList();
        Assert.Equal(ids, groups.Select(g => g.PromptId));
        Assert.Equal(Tokens(groups), Tokens(again));
        Assert.All(groups.SelectMany(g => g.Responses), r => Assert.Equal(r.Tokens.Length, r.LogProbs.Length));

        var scored = groups.Select(g => Scoring.Score(fixture.Task, fixture.Tokenizer, g)).ToList();
        Assert.All(scored.SelectMany(g => g.Responses), r => Assert.Equal(r.Correct ? 1.0 : 0.0, r.Reward));
        var shaped = groups.Select(g => Scoring.Score(fixture.Task, fixture.Tokenizer, g, new RewardShaping(1, 0, 1))).ToList();
        Assert.All(shaped.SelectMany(g => g.Responses), r => Assert.Equal(0.0, r.Reward));   // full penalty: correct ones drop to 0 too

        var (result, metrics) = StepRecomposer.Recompose(scored, SettingsMapping.Recomposition(s), s.Run.Seed, 1, 0);
        var all = scored.SelectMany(g => g.Responses).Select(r => r.Id).Order().ToList();
        Assert.Equal(all, result.Priority.Samples.Select(x => x.Response.Id).Concat(result.Compensation.Select(r => r.Id)).Order());
        Assert.Equal((16, result.Priority.Count, 0, 0), (metrics.Responses, metrics.PrioritySize, metrics.CompensationSize, metrics.BufferSize));
    }

    [Fact]
    public async Task An_update_trains_the_priority_batch_then_draws_compensation_only_when_the_schedule_says_so()
    {
        var s = fixture.Settings();
        using var model = fixture.Policy();
        using var trainer = PolicyUpdate.CreateTrainer(model, s, fixture.Tokenizer.PadId);
        var (leases, _) = StepPlanner.Plan(fixture.Task, s.Run, 1, 0, 0);
        var scored = leases.SelectMany(l => LeaseSampler.Sample(model, fixture.Tokenizer, fixture.Task, s.Sampling, l, 0))
            .Select(g => Scoring.Score(fixture.Task, fixture.Tokenizer, g)).ToList();
        var (result, _) = StepRecomposer.Recompose(scored, SettingsMapping.Recomposition(s), s.Run.Seed, 1, 0);

        var draws = new List<DrawCompensationBatch>();
        var buffered = result.Compensation;
        var update = await PolicyUpdate.RunAsync(trainer, null, SettingsMapping.Compensation(s), s.Algorithm, result.Priority, 1, 4, 0, d =>
        {
            draws.Add(d);
            return Task.FromResult<IReplayBufferReply>(new CompensationDrawn([.. buffered.Take(d.Size)], 0));
        });
        Assert.Equal(new DrawCompensationBatch(6, 0, 1), draws.Single());
        Assert.Equal(Math.Min(6, buffered.Length), update.CompensationSize);
        Assert.NotNull(update.Priority);
        Assert.Equal(update.Priority!.Loss, update.Metrics(1.5).Loss);
        Assert.Equal(1.5, update.Metrics(1.5).TrainSeconds);

        var off = new CompensationSchedule(Enabled: false, Every: 1, BatchSize: 6, Schedule: WeightSchedule.Constant, WeightStart: 1, WeightEnd: 1);
        var none = await PolicyUpdate.RunAsync(trainer, null, off, s.Algorithm, result.Priority, 2, 4, 1,
            _ => throw new InvalidOperationException("no draw when compensation is off"));
        Assert.Equal((0, 0.0), (none.CompensationSize, none.Metrics(0).CompensationWeight));
    }

    [Fact]
    public void Weights_travel_as_bytes_that_load_into_a_copy_with_the_same_state()
    {
        using var model = fixture.Policy();
        var bytes = PolicyWeights.Serialize(model);
        using var copy = new PolicyTransformer(PolicyWeights.ParseConfig(PolicyWeights.ConfigJson(fixture.Config), "test"));
        PolicyWeights.Load(copy, bytes, "test");
        Assert.Equal(bytes, PolicyWeights.Serialize(copy));
    }

    [Fact]
    public void Resume_takes_the_newest_good_checkpoint_of_this_run_and_refuses_paths_outside_it()
    {
        var s = fixture.Settings();
        var dir = Path.Combine(fixture.Directory, $"ckpt-{Guid.NewGuid():N}");
        using var model = fixture.Policy();
        using var trainer = PolicyUpdate.CreateTrainer(model, s, fixture.Tokenizer.PadId);
        var good = PolicyCheckpoints.Save(dir, 3, 2, 2, model, trainer, fixture.Config, "thinking", 1);
        var corrupt = Path.Combine(dir, "step-000004");
        Directory.CreateDirectory(corrupt);
        File.WriteAllText(Path.Combine(corrupt, "manifest.json"), "{}");

        var r = PolicyCheckpoints.Resume(model, trainer,
            [new RunCheckpoint(5, 20, 5, fixture.WarmStartPath), new RunCheckpoint(4, 16, 4, corrupt), new RunCheckpoint(2, 8, 2, good)],
            dir, fixture.WarmStartPath, out var skipped);
        Assert.NotNull(r);
        Assert.Equal((2L, 2L), (r!.From!.Step, r.PolicyVersion));
        Assert.Equal(2, skipped.Length);
        Assert.Contains("not inside this run's checkpoint folder", skipped[0]);

        Assert.Null(PolicyCheckpoints.Resume(model, trainer, [new RunCheckpoint(4, 16, 4, corrupt)], dir, fixture.WarmStartPath, out _));
        var fresh = PolicyCheckpoints.Resume(model, trainer, [], dir, fixture.WarmStartPath, out _);
        Assert.Equal((null, 0L), (fresh!.From, fresh.PolicyVersion));
    }

    [Fact]
    public void The_plain_loop_is_deterministic_and_accounts_for_every_response()
    {
        var s = fixture.Settings("run.eval-every=0");
        var first = TrainingLoop.Run(s, fixture.WarmStartPath, 2, 3, TextWriter.Null);
        var second = TrainingLoop.Run(s, fixture.WarmStartPath, 2, 3, TextWriter.Null);
        static MetricsLine Untimed(MetricsLine l) => l with { StepSeconds = 0, TrainSeconds = 0, WallSeconds = 0 };
        Assert.Equal(first.Select(Untimed), second.Select(Untimed));   // every figure but the times
        var held = 0;
        foreach (var line in first)
        {
            held += 16 - line.PrioritySize - line.CompensationSize;
            Assert.Equal(held, line.BufferSize);
        }
        Assert.Equal([1L, 2], first.Select(l => l.PolicyVersion));
        Assert.Equal([4L, 8], first.Select(l => l.Cursor));
    }

    private static List<string> Tokens(IEnumerable<RolloutGroup> groups) => [.. groups.SelectMany(g => g.Responses).Select(r => string.Join(",", r.Tokens))];
}

/// <summary>The model and micro-batch options reach the policies and the trainer the step functions build.</summary>
public sealed class PolicyOptionsTests(TrainingFixture fixture) : IClassFixture<TrainingFixture>
{
    [Fact]
    public void Attention_checkpointing_and_the_token_budget_come_from_the_settings()
    {
        var plain = fixture.Settings();
        using (var model = PolicyFactory.Create(fixture.Config, plain))
        using (var trainer = PolicyUpdate.CreateTrainer(model, plain, fixture.Tokenizer.PadId))
        {
            Assert.False(model.ScaledDotProductAttention);
            Assert.False(model.ActivationCheckpointing);
            Assert.Equal(0, trainer.Options.MaxTokensPerMicroBatch);
        }

        var tuned = fixture.Settings("model.attention=sdpa", "policy-loss.activation-checkpointing=on", "policy-loss.max-tokens-per-micro-batch=512");
        using (var model = PolicyFactory.Create(fixture.Config, tuned))
        using (var trainer = PolicyUpdate.CreateTrainer(model, tuned, fixture.Tokenizer.PadId))
        {
            Assert.True(model.ScaledDotProductAttention);
            Assert.True(model.ActivationCheckpointing);
            Assert.Equal(512, trainer.Options.MaxTokensPerMicroBatch);
        }
    }

    [Theory]
    [InlineData("model.attention=flash", "model.attention")]
    [InlineData("policy-loss.max-tokens-per-micro-batch=-1", "max-tokens-per-micro-batch")]
    public void Bad_values_are_refused_at_load(string set, string key)
    {
        var e = Assert.Throws<SettingsException>(() => fixture.Settings(set));
        Assert.Contains(key, e.Message);
    }
}
