using System.Text.Json.Nodes;
using RoRecomp.Model.HuggingFace;

namespace RoRecomp.Model.Tests.HuggingFace;

/// <summary>The chat template families rendered for a single-turn prompt, and the end ids of generation_config.json.</summary>
public sealed class HfChatFormatTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-chat-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Qwen2.5-Math's template, as in its tokenizer_config.json (the default system branch).</summary>
    private const string Qwen25MathTemplate =
        "{%- if messages[0]['role'] == 'system' %}\n    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n{%- else %}\n" +
        "    {{- '<|im_start|>system\\nPlease reason step by step, and put your final answer within \\\\boxed{}.<|im_end|>\\n' }}\n{%- endif %}\n" +
        "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endfor %}\n" +
        "{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n";

    /// <summary>Llama 3's template (Meta-Llama-3-8B-Instruct).</summary>
    private const string Llama3Template =
        "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}" +
        "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

    private void Write(JsonObject tokenizerConfig, string? generationConfig = null)
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), tokenizerConfig.ToJsonString());
        if (generationConfig is not null) File.WriteAllText(Path.Combine(_dir, "generation_config.json"), generationConfig);
    }

    [Fact]
    public void Qwen3s_real_chatml_template_renders_system_user_and_the_assistant_header_and_reads_the_end_ids()
    {
        var models = Path.GetDirectoryName(TestAssets.QwenTokenizerJson())!;
        File.Copy(Path.Combine(models, "tokenizer_config.json"), Path.Combine(_dir, "tokenizer_config.json"));
        File.WriteAllText(Path.Combine(_dir, "generation_config.json"), """{"eos_token_id": [151645, 151643], "pad_token_id": 151643}""");
        var f = HfChatFormat.Load(_dir);
        Assert.Equal(ChatFamily.ChatMl, f.Family);
        Assert.Null(f.DefaultSystem);   // Qwen3's template adds no system turn of its own
        Assert.Equal([151645, 151643], f.EosIds);
        Assert.Equal(["<|im_end|>"], f.EosTokens);
        Assert.Equal("<|endoftext|>", f.PadToken);
        Assert.Equal("<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n", f.Template(""));
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n", f.Template("Be brief."));
    }

    [Fact]
    public void A_templates_own_default_system_text_is_used_unless_the_system_prompt_is_set()
    {
        Write(new JsonObject { ["chat_template"] = Qwen25MathTemplate, ["eos_token"] = "<|endoftext|>" }, """{"eos_token_id": 151643}""");
        var f = HfChatFormat.Load(_dir);
        Assert.Equal("Please reason step by step, and put your final answer within \\boxed{}.", f.DefaultSystem);
        Assert.Equal([151643], f.EosIds);
        Assert.StartsWith("<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n<|im_start|>user\n{question}", f.Template(""));
        Assert.StartsWith("<|im_start|>system\nShort.<|im_end|>\n", f.Template("Short."));
    }

    [Fact]
    public void Llama3_renders_its_headers_after_the_bos_token()
    {
        Write(new JsonObject { ["chat_template"] = Llama3Template, ["bos_token"] = "<|begin_of_text|>", ["eos_token"] = "<|eot_id|>" },
            """{"eos_token_id": [128001, 128008, 128009]}""");
        var f = HfChatFormat.Load(_dir);
        Assert.Equal(ChatFamily.Llama3, f.Family);
        Assert.Null(f.DefaultSystem);
        Assert.Equal([128001, 128008, 128009], f.EosIds);
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe exact.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{question}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            f.Template("Be exact."));
    }

    [Fact]
    public void A_directory_without_a_template_prompts_with_the_question_alone()
    {
        Write(new JsonObject { ["eos_token"] = "<|endoftext|>" });
        var f = HfChatFormat.Load(_dir);
        Assert.Equal(ChatFamily.None, f.Family);
        Assert.Equal("{question}", f.Template("ignored"));
        Assert.Empty(f.EosIds);
    }

    [Fact]
    public void An_unrecognised_template_is_refused_with_the_key_to_set()
    {
        Write(new JsonObject { ["chat_template"] = "{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}" });
        var e = Assert.Throws<NotSupportedException>(() => HfChatFormat.Load(_dir));
        Assert.Contains("tokenizer_config.json", e.Message);
        Assert.Contains("rorecomp.task.prompt-template", e.Message);
    }
}
