using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using RoRecomp.Model.Checkpoints;

namespace RoRecomp.Model.HuggingFace;

/// <summary>The chat template families <see cref="HfChatFormat"/> renders.</summary>
public enum ChatFamily
{
    /// <summary>The directory has no chat template: the prompt is the question as it is.</summary>
    None,

    /// <summary>ChatML (<c>&lt;|im_start|&gt;role\n…&lt;|im_end|&gt;</c>): Qwen2, Qwen2.5, Qwen3.</summary>
    ChatMl,

    /// <summary>Llama 3 (<c>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\n…&lt;|eot_id|&gt;</c>).</summary>
    Llama3,
}

/// <summary>
/// How a Hugging Face model directory wants its prompts and where its answers end, from <c>tokenizer_config.json</c>
/// and <c>generation_config.json</c>. This is no Jinja engine: the template's family is recognised by its markers
/// (ChatML, Llama 3) and a single-turn prompt (optional system turn, the user's question, the opened assistant turn) is
/// rendered the way that family's templates render it. A template of another family is refused with the advice to set
/// the prompt template by hand.
/// </summary>
/// <param name="Family">The recognised family.</param>
/// <param name="DefaultSystem">The system text the template adds when the conversation has none (Qwen2.5's "You are
/// Qwen, …", Qwen2.5-Math's "Please reason step by step, …"), or null.</param>
/// <param name="BosToken">The beginning-of-sequence text the template writes first (Llama 3's <c>&lt;|begin_of_text|&gt;</c>), or "".</param>
/// <param name="EosTokens">The end tokens, as text, the tokenizer config names (<c>eos_token</c>).</param>
/// <param name="PadToken">The padding token the tokenizer config names (<c>pad_token</c>), or null (pad with the end token).</param>
/// <param name="EosIds">The end ids of <c>generation_config.json</c> (<c>eos_token_id</c>: one id or a list), possibly empty.</param>
public sealed record HfChatFormat(ChatFamily Family, string? DefaultSystem, string BosToken, IReadOnlyList<string> EosTokens, string? PadToken, IReadOnlyList<int> EosIds)
{
    /// <summary>The placeholder the rendered template holds where the question goes (as in <c>rorecomp.task.prompt-template</c>).</summary>
    public const string QuestionSlot = "{question}";

    /// <summary>Reads the chat format of <paramref name="directory"/>; unreadable JSON is a <see cref="CheckpointException"/> naming the file.</summary>
    public static HfChatFormat Load(string directory)
    {
        var configPath = Path.Combine(directory, "tokenizer_config.json");
        string? template = null;
        var bos = "";
        var eosTokens = new List<string>();
        string? pad = null;
        if (File.Exists(configPath))
        {
            using var doc = Parse(configPath);
            var r = doc.RootElement;
            template = TemplateText(r);
            if (TokenText(r, "eos_token") is { } eos) eosTokens.Add(eos);
            pad = TokenText(r, "pad_token");
            if (template is not null && template.Contains("bos_token", StringComparison.Ordinal) && TokenText(r, "bos_token") is { } b) bos = b;
        }
        var eosIds = new List<int>();
        var genPath = Path.Combine(directory, "generation_config.json");
        if (File.Exists(genPath))
        {
            using var doc = Parse(genPath);
            if (doc.RootElement.TryGetProperty("eos_token_id", out var e))
            {
                if (e.ValueKind == JsonValueKind.Number) eosIds.Add(e.GetInt32());
                else if (e.ValueKind == JsonValueKind.Array) eosIds.AddRange(e.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.Number).Select(x => x.GetInt32()));
            }
        }
        if (template is null) return new HfChatFormat(ChatFamily.None, null, "", eosTokens, pad, eosIds);
        if (template.Contains("<|im_start|>", StringComparison.Ordinal))
            return new HfChatFormat(ChatFamily.ChatMl, LiteralSystem(template, @"<\|im_start\|>system\\n", @"<\|im_end\|>"), bos, eosTokens, pad, eosIds);
        if (template.Contains("<|start_header_id|>", StringComparison.Ordinal))
            return new HfChatFormat(ChatFamily.Llama3, LiteralSystem(template, @"<\|start_header_id\|>system<\|end_header_id\|>\\n\\n", @"<\|eot_id\|>"), bos, eosTokens, pad, eosIds);
        throw new NotSupportedException(
            $"{configPath}: the chat template is neither ChatML (<|im_start|>, Qwen) nor Llama 3 (<|start_header_id|>), the families this code renders; " +
            "set rorecomp.task.prompt-template to the prompt text with {question} where the problem goes");
    }

    /// <summary>
    /// The single-turn prompt with <see cref="QuestionSlot"/> where the question goes: the system turn
    /// (<paramref name="systemPrompt"/> when not empty, else the template's default, else none), the user turn, and the
    /// opened assistant turn. With no template: the question alone.
    /// </summary>
    public string Template(string systemPrompt)
    {
        var system = systemPrompt.Length > 0 ? systemPrompt : DefaultSystem;
        var sb = new StringBuilder(BosToken);
        switch (Family)
        {
            case ChatFamily.None:
                return QuestionSlot;
            case ChatFamily.ChatMl:
                if (system is not null) sb.Append("<|im_start|>system\n").Append(system).Append("<|im_end|>\n");
                sb.Append("<|im_start|>user\n").Append(QuestionSlot).Append("<|im_end|>\n<|im_start|>assistant\n");
                break;
            case ChatFamily.Llama3:
                if (system is not null) sb.Append("<|start_header_id|>system<|end_header_id|>\n\n").Append(system).Append("<|eot_id|>");
                sb.Append("<|start_header_id|>user<|end_header_id|>\n\n").Append(QuestionSlot).Append("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
                break;
        }
        return sb.ToString();
    }

    /// <summary>
    /// The default system text written as one Jinja string literal between the family's system header and end marker
    /// (e.g. <c>'&lt;|im_start|&gt;system\nYou are Qwen…&lt;|im_end|&gt;\n'</c>), unescaped; null when there is none
    /// (a header followed by an expression such as <c>+ messages[0].content</c> is not a literal).
    /// </summary>
    private static string? LiteralSystem(string template, string header, string end)
    {
        foreach (var quote in new[] { '\'', '"' })
        {
            var q = Regex.Escape(quote.ToString());
            var m = Regex.Match(template, header + @"((?:[^\\" + q + @"]|\\.)*?)" + end);
            if (m.Success && m.Groups[1].Value.Length > 0 && IsInsideLiteral(template, m.Index, quote)) return Unescape(m.Groups[1].Value);
        }
        return null;
    }

    /// <summary>True when an odd number of unescaped <paramref name="quote"/> characters precede <paramref name="at"/> on its line.</summary>
    private static bool IsInsideLiteral(string template, int at, char quote)
    {
        var lineStart = template.LastIndexOf('\n', Math.Max(0, at - 1)) + 1;
        var open = false;
        for (var i = lineStart; i < at; i++)
        {
            if (template[i] == '\\') i++;
            else if (template[i] == quote) open = !open;
        }
        return open;
    }

    private static string Unescape(string literal)
    {
        var sb = new StringBuilder(literal.Length);
        for (var i = 0; i < literal.Length; i++)
        {
            if (literal[i] != '\\' || i + 1 == literal.Length)
            {
                sb.Append(literal[i]);
                continue;
            }
            var c = literal[++i];
            sb.Append(c switch { 'n' => '\n', 't' => '\t', _ => c });
        }
        return sb.ToString();
    }

    /// <summary>The chat template: a string, or the entry named "default" of a list of named templates.</summary>
    private static string? TemplateText(JsonElement config)
    {
        if (!config.TryGetProperty("chat_template", out var t)) return null;
        if (t.ValueKind == JsonValueKind.String) return t.GetString();
        if (t.ValueKind != JsonValueKind.Array) return null;
        foreach (var named in t.EnumerateArray())
        {
            if (named.ValueKind == JsonValueKind.Object && named.TryGetProperty("name", out var n) && n.GetString() == "default"
                && named.TryGetProperty("template", out var text)) return text.GetString();
        }
        return null;
    }

    /// <summary>A special token's text: a string, or an object with <c>content</c> (AddedToken form); null when absent.</summary>
    private static string? TokenText(JsonElement config, string key) =>
        !config.TryGetProperty(key, out var v) ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) ? c.GetString()
        : null;

    private static JsonDocument Parse(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{path}: not valid JSON ({e.Message})", e);
        }
    }
}
