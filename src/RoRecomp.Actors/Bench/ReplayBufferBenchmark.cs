using System.Collections.Immutable;
using System.Diagnostics;
using Akka.Actor;
using RoRecomp.Settings;
using RoRecomp.Actors.Persistence;
using RoRecomp.Training.Runs;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.Serialization;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Actors.Bench;

/// <summary>Measured figures of <see cref="ReplayBufferBenchmark.Run"/>.</summary>
/// <param name="Responses">Responses journaled (and then recovered).</param>
/// <param name="BatchSize">Responses per <see cref="StoreResponses"/> (one journal event each).</param>
/// <param name="TokensPerResponse">Response length in tokens.</param>
/// <param name="StoreSeconds">Wall time from the first store to the last ack.</param>
/// <param name="ResponsesPerSecond">Journaled responses per second (target >= 10,000).</param>
/// <param name="RecoverySeconds">Wall time for a fresh actor system to recover the buffer and answer (target &lt; 5).</param>
/// <param name="Recovered">Responses held after recovery (must equal <paramref name="Responses"/>).</param>
/// <param name="JournalBytes">Size of the SQLite file afterwards.</param>
public sealed record ReplayBufferBenchmarkResult(
    int Responses, int BatchSize, int TokensPerResponse, double StoreSeconds, double ResponsesPerSecond,
    double RecoverySeconds, int Recovered, long JournalBytes);

/// <summary>
/// Replay buffer benchmark: journals realistic responses (prompt 32 tokens, response <c>tokens</c> ids with log-probs)
/// to a SQLite file through <see cref="ReplayBufferActor"/>, then recovers them in a new actor system.
/// </summary>
public static class ReplayBufferBenchmark
{
    /// <summary>Runs the benchmark in <paramref name="runDir"/> (created; must not hold a previous journal).</summary>
    public static async Task<ReplayBufferBenchmarkResult> Run(
        string runDir, int responses = 100_000, int batchSize = 256, int tokens = 64, int snapshotEvery = 100)
    {
        using var runLock = RunDirectoryLock.Acquire(runDir);
        var config = PersistenceHocon.Build(new PersistenceSettings("sqlite", "", ""), runDir)
            .WithFallback(SerializationHocon.Config)
            .WithFallback("akka.loglevel = WARNING");
        var options = new ReplayBufferOptions(Capacity: responses, MaxStaleness: long.MaxValue);
        var rng = new Random(7);
        var batches = new List<StoreResponses>();
        for (var start = 0; start < responses; start += batchSize)
        {
            var n = Math.Min(batchSize, responses - start);
            batches.Add(new StoreResponses([.. Enumerable.Range(start, n).Select(i => MakeResponse(i, tokens, rng))]));
        }

        double storeSeconds;
        var first = ActorSystem.Create("bench-store", config);
        try
        {
            var buffer = first.ActorOf(ReplayBufferActor.Props("bench", options, snapshotEvery));
            await buffer.Ask<BufferStats>(GetBufferStats.Instance, TimeSpan.FromSeconds(30)); // journal initialised
            var sw = Stopwatch.StartNew();
            var acks = batches.Select(b => buffer.Ask<ResponsesAccepted>(b, TimeSpan.FromMinutes(5))).ToList();
            await Task.WhenAll(acks);
            storeSeconds = sw.Elapsed.TotalSeconds;
        }
        finally
        {
            await first.Terminate();
        }

        double recoverySeconds;
        int recovered;
        var second = ActorSystem.Create("bench-recover", config);
        try
        {
            var sw = Stopwatch.StartNew();
            var buffer = second.ActorOf(ReplayBufferActor.Props("bench", options, snapshotEvery));
            var stats = await buffer.Ask<BufferStats>(GetBufferStats.Instance, TimeSpan.FromMinutes(5));
            recoverySeconds = sw.Elapsed.TotalSeconds;
            recovered = stats.Count;
        }
        finally
        {
            await second.Terminate();
        }

        var journal = new FileInfo(Path.Combine(runDir, PersistenceHocon.DefaultSqliteFile));
        return new ReplayBufferBenchmarkResult(
            responses, batchSize, tokens, storeSeconds, responses / storeSeconds, recoverySeconds, recovered,
            journal.Exists ? journal.Length : 0);
    }

    private static Response MakeResponse(int i, int tokens, Random rng) => new(
        Id: $"lease-{i / 8}/{i % 8}",
        PromptId: $"train-{i / 8:D6}",
        SampleIndex: i % 8,
        Step: i / 256,
        PolicyVersion: i / 256,
        PromptTokens: [.. Enumerable.Range(0, 32).Select(_ => rng.Next(50_000))],
        Tokens: [.. Enumerable.Range(0, tokens).Select(_ => rng.Next(50_000))],
        LogProbs: [.. Enumerable.Range(0, tokens).Select(_ => -(float)rng.NextDouble() * 5)],
        Reward: i % 3 == 0 ? 1 : 0,
        Correct: i % 3 == 0);
}
