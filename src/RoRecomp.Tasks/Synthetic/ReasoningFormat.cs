using System.Globalization;

namespace RoRecomp.Tasks.Synthetic;

/// <summary>Parses the shared skeleton <c>&lt;think&gt;…&lt;/think&gt;&lt;answer&gt;N&lt;/answer&gt;[&lt;eos&gt;]</c> of the synthetic tasks.</summary>
internal static class ReasoningFormat
{
    /// <summary>Splits a response into its think content and its answer; false with a reason when the skeleton is broken.</summary>
    public static bool TrySplit(string? response, out string think, out string? answer, out string? problem)
    {
        think = "";
        answer = null;
        problem = null;
        if (response is null) { problem = "empty response"; return false; }
        var s = Tokens.TrimEos(response);
        if (!s.StartsWith(Tokens.ThinkOpen, StringComparison.Ordinal)) { problem = "does not start with <think>"; return false; }
        int close = s.IndexOf(Tokens.ThinkClose, StringComparison.Ordinal);
        if (close < 0) { problem = "no </think>"; return false; }
        think = s[Tokens.ThinkOpen.Length..close];
        var rest = s[(close + Tokens.ThinkClose.Length)..];
        if (!rest.StartsWith(Tokens.AnswerOpen, StringComparison.Ordinal) || !rest.EndsWith(Tokens.AnswerClose, StringComparison.Ordinal)
            || rest.Length < Tokens.AnswerOpen.Length + Tokens.AnswerClose.Length)
        {
            problem = "</think> is not followed by exactly <answer>N</answer>";
            return false;
        }
        var a = rest[Tokens.AnswerOpen.Length..^Tokens.AnswerClose.Length];
        if (!TryNumber(a, out _)) { problem = $"answer '{Clip(a)}' is not a number"; return false; }
        answer = a;
        return true;
    }

    /// <summary>A non-negative decimal integer of 1-12 digits without leading zeros (or "0").</summary>
    public static bool TryNumber(string s, out long value)
    {
        value = 0;
        if (s.Length is 0 or > 12 || (s.Length > 1 && s[0] == '0')) return false;
        foreach (var c in s) if (c is < '0' or > '9') return false;
        return long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    public static string Clip(string s) => s.Length <= 24 ? s : s[..24] + "…";
}
