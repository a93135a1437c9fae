using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using RoRecomp.Tasks.Synthetic;

namespace RoRecomp.Tasks.Tools;

/// <summary>
/// The think-part grammar the calculator tasks share: a sequence of items, each a tool call with the environment's
/// result (<c>&lt;tool&gt;calc:EXPR&lt;/tool&gt;&lt;result&gt;V&lt;/result&gt;</c>) or a note <c>x*y=p;</c> / <c>x+y=s;</c>.
/// </summary>
internal static partial class ToolTrace
{
    /// <summary>
    /// Splits the calls of <paramref name="response"/> for an audit (<see cref="IToolCallAudit"/>): a call is necessary when
    /// the tool answered it with a value and its expression asks for one of <paramref name="products"/> (as <c>x*y</c> or
    /// <c>y*x</c>) no earlier call asked for, or, when <paramref name="sumNeedsTool"/>, it is the first such call that adds
    /// (has a <c>+</c>); one call doing several of these (the whole expression) counts once. Every other call (a repeat, a
    /// product not listed, a further sum, an error, a call cut off unclosed) is unnecessary. Returns the calls, the
    /// necessary ones, and how many of <paramref name="products"/> no call asked for.
    /// </summary>
    public static (int Calls, int Necessary, int NotAsked) AuditCalls(string? response, CalcToolEnvironment tools, IEnumerable<(long X, long Y)> products, bool sumNeedsTool)
    {
        var open = products.ToList();
        int necessary = 0;
        bool summed = !sumNeedsTool;
        var bodies = CallBodies(response ?? "");
        foreach (var body in bodies)
        {
            if (tools.Answer(body).Error is not null) continue;
            bool asked = false;
            foreach (Match m in Product().Matches(body))
            {
                if (!long.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var x)
                    || !long.TryParse(m.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var y)) continue;
                int k = open.FindIndex(t => (t.X == x && t.Y == y) || (t.X == y && t.Y == x));
                if (k < 0) continue;
                open.RemoveAt(k);
                asked = true;
            }
            if (!summed && body.Contains('+', StringComparison.Ordinal)) summed = asked = true;
            if (asked) necessary++;
        }
        return (bodies.Count, necessary, open.Count);
    }

    /// <summary>Why <paramref name="think"/> breaks the grammar (or has a result the tool did not give), or null when it follows it.</summary>
    public static string? Check(string think, CalcToolEnvironment tools)
    {
        int pos = 0, calls = 0;
        while (pos < think.Length)
        {
            if (think.AsSpan(pos).StartsWith(Tokens.ToolOpen, StringComparison.Ordinal))
            {
                calls++;
                int close = think.IndexOf(Tokens.ToolClose, pos, StringComparison.Ordinal);
                if (close < 0) return $"call {calls} is not closed";
                var body = think[(pos + Tokens.ToolOpen.Length)..close];
                if (body.Contains('<', StringComparison.Ordinal)) return $"call {calls} contains a tag";
                pos = close + Tokens.ToolClose.Length;
                if (!think.AsSpan(pos).StartsWith(Tokens.ResultOpen, StringComparison.Ordinal)) return $"call {calls} has no result";
                int rclose = think.IndexOf(Tokens.ResultClose, pos, StringComparison.Ordinal);
                if (rclose < 0) return $"result {calls} is not closed";
                var result = think[(pos + Tokens.ResultOpen.Length)..rclose];
                var (value, err) = tools.Answer(body);
                if (result != (value ?? "error:" + err)) return $"result {calls} is not the tool's answer";
                if (calls > tools.MaxCalls) return $"more than {tools.MaxCalls} calls";
                pos = rclose + Tokens.ResultClose.Length;
            }
            else
            {
                int semi = think.IndexOf(';', pos);
                if (semi < 0) return "trailing text after the last item";
                var note = think[pos..semi];
                if (!IsNote(note)) return $"note '{ReasoningFormat.Clip(note)}' is malformed";
                pos = semi + 1;
            }
        }
        return null;
    }

    /// <summary>Appends a call of <paramref name="expression"/> and the tool's answer to it (a warm-start trace's call).</summary>
    public static void AppendCall(StringBuilder sb, CalcToolEnvironment tools, string expression)
    {
        var body = CalcToolEnvironment.ToolName + ":" + expression;
        sb.Append(Tokens.ToolOpen).Append(body).Append(Tokens.ToolClose);
        var (value, error) = tools.Answer(body);
        sb.Append(CalcToolEnvironment.Result(value ?? "error:" + error));
    }

    /// <summary>The call bodies (between open and close tag) of a response, in order; "" for a call never closed.</summary>
    public static List<string> CallBodies(string response)
    {
        var bodies = new List<string>();
        for (int i = response.IndexOf(Tokens.ToolOpen, StringComparison.Ordinal); i >= 0; i = response.IndexOf(Tokens.ToolOpen, i + 1, StringComparison.Ordinal))
        {
            int start = i + Tokens.ToolOpen.Length;
            int close = response.IndexOf(Tokens.ToolClose, start, StringComparison.Ordinal);
            bodies.Add(close < 0 ? "" : response[start..close]);
        }
        return bodies;
    }

    [GeneratedRegex(@"(\d+)\*(\d+)")]
    private static partial Regex Product();

    private static bool IsNote(string note)
    {
        int op = note.IndexOfAny(['+', '*']), eq = note.IndexOf('=', StringComparison.Ordinal);
        return op > 0 && eq > op + 1
            && ReasoningFormat.TryNumber(note[..op], out _) && ReasoningFormat.TryNumber(note[(op + 1)..eq], out _)
            && (ReasoningFormat.TryNumber(note[(eq + 1)..], out _) || (note.Length > eq + 2 && note[eq + 1] == '-' && ReasoningFormat.TryNumber(note[(eq + 2)..], out _)));
    }
}
