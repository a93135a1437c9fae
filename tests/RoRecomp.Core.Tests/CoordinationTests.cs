using RoRecomp.Core.Coordination;

namespace RoRecomp.Core.Tests;

public sealed class CoordinationTests
{
    [Theory]
    [InlineData(32, 8, 4)]
    [InlineData(30, 8, 4)]
    [InlineData(5, 8, 1)]
    [InlineData(1, 1, 1)]
    public void Leases_partition_the_steps_prompts_in_order(int prompts, int leaseSize, int expectedLeases)
    {
        var leases = WorkLeases.Plan(step: 7, cursor: 100, prompts, leaseSize, samplesPerPrompt: 8, policyVersion: 6, runSeed: 1);
        Assert.Equal(expectedLeases, leases.Length);
        Assert.Equal(Enumerable.Range(100, prompts).Select(i => (long)i), leases.SelectMany(l => l.PromptIndices));
        Assert.All(leases, l => Assert.InRange(l.PromptIndices.Length, 1, leaseSize));
        Assert.Equal(leases.Length, leases.Select(l => l.LeaseId).Distinct().Count());
        Assert.Equal(leases.Length, leases.Select(l => l.Seed).Distinct().Count());
        Assert.All(leases, l => Assert.Equal((7L, 6L, 8), (l.Step, l.PolicyVersion, l.SamplesPerPrompt)));
    }

    [Fact]
    public void Lease_seeds_depend_on_run_seed_step_and_index_only()
    {
        var a = WorkLeases.Plan(3, 0, 16, 8, 4, 0, runSeed: 1);
        var b = WorkLeases.Plan(3, 64, 16, 8, 4, 5, runSeed: 1);   // other cursor and version: same seeds (a re-run step samples alike)
        var c = WorkLeases.Plan(3, 0, 16, 8, 4, 0, runSeed: 2);
        var d = WorkLeases.Plan(4, 0, 16, 8, 4, 0, runSeed: 1);
        Assert.Equal(a.Select(l => l.Seed), b.Select(l => l.Seed));
        Assert.Empty(a.Select(l => l.Seed).Intersect(c.Select(l => l.Seed)));
        Assert.Empty(a.Select(l => l.Seed).Intersect(d.Select(l => l.Seed)));
        Assert.All(a.Concat(c).Concat(d), l => Assert.True(l.Seed >= 0));
        Assert.Equal("s000003-l001", a[1].LeaseId);
        Assert.Equal("s000003/train-000042/2", WorkLeases.ResponseId(3, "train-000042", 2));
    }

    /// <summary>Seeds pinned from the original implementation: a seeded run must sample the same responses.</summary>
    [Theory]
    [InlineData(0, 0L, 0, 0L)]
    [InlineData(1, 7L, 0, 3856024403982892756L)]
    [InlineData(1, 7L, 3, 115000996432115567L)]
    [InlineData(-5, 123456789L, 17, 1142031954626486161L)]
    [InlineData(int.MaxValue, long.MaxValue, int.MaxValue, 1370710201640482331L)]
    public void Lease_seeds_are_stable(int runSeed, long step, int leaseIndex, long expected) =>
        Assert.Equal(expected, WorkLeases.Seed(runSeed, step, leaseIndex));

    [Theory]
    [InlineData(0, 8)]
    [InlineData(8, 0)]
    public void Bad_lease_plans_are_refused(int prompts, int leaseSize) =>
        Assert.Throws<ArgumentException>(() => WorkLeases.Plan(1, 0, prompts, leaseSize, 8, 0, 1));

    [Fact]
    public void Run_state_keeps_commits_in_order_and_a_commit_replaces_later_ones()
    {
        var s = RunState.Empty;
        Assert.Null(s.Latest);
        s = s.Apply(new CheckpointCommitted(new RunCheckpoint(10, 320, 10, "c/step-000010")));
        s = s.Apply(new CheckpointCommitted(new RunCheckpoint(20, 640, 20, "c/step-000020")));
        Assert.Equal(20, s.Latest!.Step);
        // A run that resumed from step 10 (step 20's checkpoint did not load) commits step 15: 20 no longer describes it.
        s = s.Apply(new CheckpointCommitted(new RunCheckpoint(15, 480, 15, "c/step-000015")));
        Assert.Equal([10L, 15L], s.Checkpoints.Select(c => c.Step));
        // Replaying the same events gives the same state.
        var replay = new IRunEvent[]
        {
            new CheckpointCommitted(new RunCheckpoint(10, 320, 10, "c/step-000010")),
            new CheckpointCommitted(new RunCheckpoint(20, 640, 20, "c/step-000020")),
            new CheckpointCommitted(new RunCheckpoint(15, 480, 15, "c/step-000015")),
        }.Aggregate(RunState.Empty, (st, e) => st.Apply(e));
        Assert.Equal(s.Checkpoints, replay.Checkpoints);
    }
}
