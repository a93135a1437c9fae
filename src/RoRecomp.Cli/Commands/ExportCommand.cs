using System.CommandLine;
using RoRecomp.Training.Runs;

namespace RoRecomp.Cli.Commands;

/// <summary>`rorecomp export --format hf --out DIR [--run-dir DIR | --checkpoint DIR] [--dtype fp32|bf16]`: the trained policy as a Hugging Face directory.</summary>
public static class ExportCommand
{
    /// <summary>The command with its options.</summary>
    public static Command Create()
    {
        var format = new Option<string>("--format")
        {
            Description = $"export format: {string.Join(", ", RunExport.Formats)} (Hugging Face: config.json, safetensors, tokenizer files)",
            HelpName = "FORMAT",
            DefaultValueFactory = _ => "hf",
        };
        var output = CliKit.Text("--out", "DIR", "the directory to write (must not exist, or be empty)", required: true);
        var runDir = CliKit.Text("--run-dir", "DIR", "the run whose latest good checkpoint is exported (default rorecomp.run.run-dir = runs/default)");
        var checkpoint = CliKit.Text("--checkpoint", "DIR", "export this checkpoint directory (e.g. <run-dir>/checkpoints/step-000120) instead of the run's latest");
        var dtype = new Option<string>("--dtype")
        {
            Description = "stored weights: fp32 (logits identical to the trained policy) or bf16 (half the size)",
            HelpName = "fp32|bf16",
            DefaultValueFactory = _ => "fp32",
        };
        var maxShard = CliKit.PositiveNumber("--max-shard-gb", 5, "above this many GB of weights, write shards with model.safetensors.index.json");
        var command = new Command("export",
            "write a run's trained policy as a Hugging Face model directory for transformers or vLLM: config.json (qwen2 or llama), " +
            "model.safetensors (sharded with an index above --max-shard-gb), generation_config.json, and the tokenizer files of the " +
            "model the run started from (rorecomp.model.source = hf; a tiny-source run's tokenizer is its task's character vocabulary, " +
            "which is not a Hugging Face tokenizer). Reads the run's settings from <run-dir>/run.conf.")
        {
            format, output, runDir, checkpoint, dtype, maxShard,
        };
        command.SetAction(p =>
        {
            var options = new ExportOptions(p.GetValue(output)!, p.GetValue(runDir), p.GetValue(checkpoint), p.GetValue(format)!,
                p.GetValue(dtype)!, p.GetValue(maxShard));
            return CliKit.Handle("export", () =>
            {
                RunExport.Run(options, Console.Out, !Console.IsOutputRedirected);
                return 0;
            });
        });
        return command;
    }
}
