using System.Collections.Immutable;
using System.Globalization;
using RoRecomp.Core.Randomness;

namespace RoRecomp.Core.Coordination;

/// <summary>
/// A unit of sampling work: <paramref name="SamplesPerPrompt"/> responses for each of the train prompts
/// <paramref name="PromptIndices"/>, sampled with the policy of at least <paramref name="PolicyVersion"/> and the
/// seed <paramref name="Seed"/>. Results are idempotent by lease id: a lease re-issued after a timeout yields the same
/// responses (same ids), and a late duplicate is ignored.
/// </summary>
public sealed record WorkLease(string LeaseId, long Step, long PolicyVersion, ImmutableArray<long> PromptIndices, int SamplesPerPrompt, long Seed);

/// <summary>Splits a step's online batch into leases.</summary>
public static class WorkLeases
{
    /// <summary>
    /// The leases of step <paramref name="step"/>: prompts <c>cursor .. cursor + prompts - 1</c> in chunks of
    /// <paramref name="leaseSize"/>. Lease ids are <c>s{step:D6}-l{k:D3}</c>; seeds depend only on (run seed, step,
    /// lease index), so a re-run step samples the same responses.
    /// </summary>
    public static ImmutableArray<WorkLease> Plan(long step, long cursor, int prompts, int leaseSize, int samplesPerPrompt, long policyVersion, int runSeed)
    {
        if (prompts < 1) throw new ArgumentException($"prompts per step = {prompts}: must be >= 1", nameof(prompts));
        if (leaseSize < 1) throw new ArgumentException($"lease size = {leaseSize}: must be >= 1", nameof(leaseSize));
        if (samplesPerPrompt < 1) throw new ArgumentException($"samples per prompt = {samplesPerPrompt}: must be >= 1", nameof(samplesPerPrompt));
        var leases = ImmutableArray.CreateBuilder<WorkLease>();
        for (int start = 0, k = 0; start < prompts; start += leaseSize, k++)
        {
            var n = Math.Min(leaseSize, prompts - start);
            var indices = Enumerable.Range(start, n).Select(i => cursor + i).ToImmutableArray();
            leases.Add(new WorkLease(LeaseId(step, k), step, policyVersion, indices, samplesPerPrompt, Seed(runSeed, step, k)));
        }
        return leases.ToImmutable();
    }

    /// <summary>The id of lease <paramref name="index"/> of <paramref name="step"/>.</summary>
    public static string LeaseId(long step, int index) => string.Create(CultureInfo.InvariantCulture, $"s{step:D6}-l{index:D3}");

    /// <summary>Id of sample <paramref name="sample"/> for prompt <paramref name="promptId"/> at <paramref name="step"/>: stable across re-runs.</summary>
    public static string ResponseId(long step, string promptId, int sample) => string.Create(CultureInfo.InvariantCulture, $"s{step:D6}/{promptId}/{sample}");

    /// <summary>A 63-bit seed mixed from (run seed, step, lease index) with SplitMix64.</summary>
    public static long Seed(int runSeed, long step, int leaseIndex)
    {
        var z = unchecked(((ulong)(uint)runSeed * SplitMix64.Gamma) ^ ((ulong)step * 0xBF58476D1CE4E5B9UL) ^ ((ulong)leaseIndex * 0x94D049BB133111EBUL));
        return (long)(SplitMix64.Mix(z) >> 1);
    }
}
