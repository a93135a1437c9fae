using System.Globalization;
using System.Text.Json;
using RoRecomp.Actors.Bench;
using RoRecomp.Actors.Weights;
using RoRecomp.Model.Bench;

namespace RoRecomp.Cli.Commands;

/// <summary>
/// `rorecomp bench &lt;what&gt; [--json FILE]`: benchmarks that check the speed and memory targets of DESIGN.md §4.
/// Each prints a table and, with --json, writes its figures as one JSON object.
/// </summary>
public static class BenchCommand
{
    private const string Usage = """
        usage: rorecomp bench <what> [options] [--json FILE]

          model     policy model (tiny preset): KV-cache vs no-cache decoding, training tokens/s and FLOP/s vs the matmul peak
                    [--rows N (64)] [--new-tokens N (64)] [--train-rows N (64)] [--train-tokens N (128)] [--repeats N (3)] [--threads N]
          buffer    replay buffer: responses/s journaled to SQLite and recovery time
                    [--responses N (100000)] [--batch N (256)] [--tokens N (64)] [--snapshot-every N (100)] [--dir DIR]
          weights   weight sync: fetches a blob of random bytes from a weight server over loopback TCP, GB/s per fetch
                    [--mb N (1024, MiB)] [--repeat K (3)] [--chunk-kb N (1024)] [--no-sha256]
        """;

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0] is "--help" or "-h")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        try
        {
            var options = CliOptions.Parse(args[1..]);
            return args[0] switch
            {
                "buffer" => Buffer(options),
                "model" => Model(options),
                "weights" => Weights(options),
                _ => Fail($"unknown benchmark '{args[0]}'"),
            };
        }
        catch (CliException ex)
        {
            return Fail(ex.Message);
        }
    }

    private static int Buffer(CliOptions o)
    {
        var responses = o.Int("responses", 100_000);
        var batch = o.Int("batch", 256);
        var tokens = o.Int("tokens", 64);
        var snapshotEvery = o.Int("snapshot-every", 100);
        var dir = o.String("dir") ?? Path.Combine(Path.GetTempPath(), $"rorecomp-bench-buffer-{Guid.NewGuid():N}");
        var json = o.String("json");
        o.RejectUnknown();
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
            return Fail($"--dir {dir} is not empty: the benchmark needs a fresh journal");
        Console.WriteLine($"bench buffer: journaling {responses:N0} responses of {tokens} tokens in batches of {batch} to SQLite in {dir} ...");
        var r = ReplayBufferBenchmark.Run(dir, responses, batch, tokens, snapshotEvery).GetAwaiter().GetResult();
        Console.WriteLine($"  journaled        {r.ResponsesPerSecond,12:N0} responses/s   (target >= 10,000)  {(r.ResponsesPerSecond >= 10_000 ? "met" : "MISSED")}");
        Console.WriteLine($"  recovery         {r.RecoverySeconds,12:N2} s             (target < 5 s for 100,000)  {(r.RecoverySeconds < 5 ? "met" : "MISSED")}");
        Console.WriteLine($"  recovered        {r.Recovered,12:N0} of {r.Responses:N0}");
        Console.WriteLine($"  journal size     {r.JournalBytes / 1e6,12:N1} MB");
        WriteJson(json, new Dictionary<string, object>
        {
            ["responses"] = r.Responses,
            ["batch_size"] = r.BatchSize,
            ["tokens_per_response"] = r.TokensPerResponse,
            ["responses_per_s"] = r.ResponsesPerSecond,
            ["recovery_s"] = r.RecoverySeconds,
            ["recovered"] = r.Recovered,
            ["journal_bytes"] = r.JournalBytes,
        });
        if (o.String("dir") == null) Directory.Delete(dir, recursive: true);
        return r.Recovered == r.Responses ? 0 : 1;
    }

    private static int Model(CliOptions o)
    {
        var options = new ModelBenchOptions(
            Rows: o.Int("rows", 64), NewTokens: o.Int("new-tokens", 64), TrainRows: o.Int("train-rows", 64),
            TrainTokens: o.Int("train-tokens", 128), Repeats: o.Int("repeats", 3), Threads: o.Int("threads", Environment.ProcessorCount));
        var json = o.String("json");
        o.RejectUnknown();
        var r = ModelBenchmark.Run(options, line => Console.WriteLine($"bench model: {line}"));
        Console.WriteLine($"  tiny preset            {r.Parameters,12:N0} parameters, {r.Threads} threads");
        Console.WriteLine($"  fp32 matmul peak       {r.MatmulPeakGflops,12:N1} GFLOP/s");
        Console.WriteLine($"  decode, KV cache       {r.DecodeTokensPerSecond,12:N0} tokens/s");
        Console.WriteLine($"  decode, no cache       {r.DecodeNoCacheTokensPerSecond,12:N0} tokens/s");
        Console.WriteLine($"  KV-cache speed-up      {r.KvCacheSpeedup,12:N2} x       (target >= 5)    {(r.KvCacheSpeedup >= 5 ? "met" : "MISSED")}");
        Console.WriteLine($"  training               {r.TrainTokensPerSecond,12:N0} tokens/s");
        Console.WriteLine($"  training FLOP/s        {r.TrainGflops,12:N1} GFLOP/s = {r.TrainFlopsFractionOfPeak:P0} of peak (target >= 30%)  {(r.TrainFlopsFractionOfPeak >= 0.3 ? "met" : "MISSED")}");
        Console.WriteLine($"  FLOP count             {r.FlopFormula}");
        WriteJson(json, new Dictionary<string, object>
        {
            ["parameters"] = r.Parameters,
            ["threads"] = r.Threads,
            ["matmul_peak_gflops"] = r.MatmulPeakGflops,
            ["kv_cache_speedup"] = r.KvCacheSpeedup,
            ["decode_tokens_per_s"] = r.DecodeTokensPerSecond,
            ["decode_no_cache_tokens_per_s"] = r.DecodeNoCacheTokensPerSecond,
            ["train_tokens_per_s"] = r.TrainTokensPerSecond,
            ["train_gflops"] = r.TrainGflops,
            ["train_flops_fraction_of_peak"] = r.TrainFlopsFractionOfPeak,
            ["flop_formula"] = r.FlopFormula,
        });
        return 0;
    }

    private static int Weights(CliOptions o)
    {
        var mb = o.Int("mb", 1024);
        var repeat = o.Int("repeat", 3);
        var chunkKb = o.Int("chunk-kb", 1024);
        var verifySha256 = !o.Flag("no-sha256");
        var json = o.String("json");
        o.RejectUnknown();
        if ((long)mb * 1024 * 1024 > Array.MaxLength) return Fail($"--mb {mb}: a blob holds at most {Array.MaxLength / (1024 * 1024)} MiB");
        var chunkBytes = (long)chunkKb * 1024;
        if (chunkBytes is < WeightServerOptions.MinChunkBytes or > WeightServerOptions.MaxChunkBytes)
            return Fail($"--chunk-kb {chunkKb}: expected {WeightServerOptions.MinChunkBytes / 1024} to {WeightServerOptions.MaxChunkBytes / 1024}");
        Console.WriteLine($"bench weights: {mb} MiB blob, {repeat} fetches over loopback, {chunkKb} KiB chunks ...");
        var r = WeightsBenchmark.Run(
            (long)mb * 1024 * 1024, repeat, new WeightServerOptions { ChunkBytes = (int)chunkBytes },
            new WeightClientOptions { VerifySha256 = verifySha256 }, line => Console.WriteLine($"  {line}"));
        Console.WriteLine($"  checksum         {r.Checksum}");
        Console.WriteLine($"  per fetch        {string.Join(", ", r.GbPerSecond.Select(g => $"{g * 1000:N0} MB/s"))}");
        Console.WriteLine($"  median           {r.MedianGbPerSecond,8:N2} GB/s   (target >= 1 GB/s, floor 0.2)  {(r.MedianGbPerSecond >= 1 ? "met" : "MISSED")}");
        Console.WriteLine($"  best             {r.BestGbPerSecond,8:N2} GB/s");
        WriteJson(json, new Dictionary<string, object>
        {
            ["blob_mb"] = mb,
            ["blob_bytes"] = r.BlobBytes,
            ["chunk_bytes"] = r.ChunkBytes,
            ["checksum"] = r.Checksum,
            ["repeat"] = repeat,
            ["publish_s"] = r.PublishSeconds,
            ["fetch_s"] = r.FetchSeconds,
            ["weights_gb_per_s"] = r.MedianGbPerSecond,
            ["weights_best_gb_per_s"] = r.BestGbPerSecond,
        });
        return 0;
    }

    /// <summary>Writes a benchmark's figures to --json FILE, when given.</summary>
    private static void WriteJson(string? path, Dictionary<string, object> figures)
    {
        if (path != null) File.WriteAllText(path, JsonSerializer.Serialize(figures, new JsonSerializerOptions { WriteIndented = true }));
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"bench: {message}");
        Console.Error.WriteLine(Usage);
        return 2;
    }
}
