namespace RoRecomp.Settings;

/// <summary>
/// Structural checks Akka's lenient HOCON parser skips: every <c>{</c> and <c>[</c> closed in order, and every key
/// followed by <c>=</c> or <c>:</c> given a value. Strings, triple-quoted strings, comments and <c>${...}</c>
/// substitutions are skipped; anything finer is left to the parser.
/// </summary>
public static class HoconSyntax
{
    /// <summary>Throws a <see cref="SettingsException"/> naming <paramref name="source"/> and the line of the first structural error.</summary>
    /// <param name="text">The HOCON text.</param>
    /// <param name="source">Where the text came from (a file path), for the message.</param>
    public static void Check(string text, string source)
    {
        var open = new Stack<(char Bracket, int Line)>();
        var line = 1;
        var separatorSeen = false; // a key's first '=' or ':' since the entry began
        int? pendingValueLine = null; // line of a separator still waiting for its value
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (c == '\n')
            {
                line++;
                separatorSeen = false;
                i++;
                continue;
            }
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }
            if (c == '#' || (c == '/' && i + 1 < text.Length && text[i + 1] == '/'))
            {
                while (i < text.Length && text[i] != '\n') i++;
                continue;
            }
            if (c is '}' or ']' or ',')
            {
                if (pendingValueLine is { } l) Fail(source, l, "a key has no value");
                if (c != ',')
                {
                    var expected = c == '}' ? '{' : '[';
                    if (open.Count == 0) Fail(source, line, $"'{c}' closes nothing");
                    var (bracket, at) = open.Pop();
                    if (bracket != expected) Fail(source, line, $"'{c}' closes the '{bracket}' of line {at}");
                }
                separatorSeen = false;
                i++;
                continue;
            }
            pendingValueLine = null;
            if (c is '{' or '[')
            {
                open.Push((c, line));
                separatorSeen = false;
                i++;
            }
            else if (c == '"')
            {
                i = SkipString(text, i, ref line, source);
            }
            else if (c == '$' && i + 1 < text.Length && text[i + 1] == '{')
            {
                var end = text.IndexOf('}', i);
                if (end < 0) Fail(source, line, "a ${...} substitution is not closed");
                i = end + 1;
            }
            else if ((c is '=' or ':') && !separatorSeen)
            {
                separatorSeen = true;
                pendingValueLine = line;
                i++;
            }
            else
            {
                i++;
            }
        }
        if (pendingValueLine is { } last) Fail(source, last, "a key has no value");
        if (open.Count > 0)
        {
            var (bracket, at) = open.Peek();
            Fail(source, at, $"the '{bracket}' opened here is never closed");
        }
    }

    /// <summary>Index after the quoted or triple-quoted string starting at <paramref name="i"/>, counting its newlines.</summary>
    private static int SkipString(string text, int i, ref int line, string source)
    {
        if (string.CompareOrdinal(text, i, "\"\"\"", 0, 3) == 0)
        {
            var end = text.IndexOf("\"\"\"", i + 3, StringComparison.Ordinal);
            end = end < 0 ? text.Length : end + 3;
            while (end < text.Length && text[end] == '"') end++;
            line += text.AsSpan(i, end - i).Count('\n');
            return end;
        }
        for (i++; i < text.Length; i++)
        {
            if (text[i] == '\\') i++;
            else if (text[i] == '"') return i + 1;
            else if (text[i] == '\n') break;
        }
        throw new SettingsException($"syntax error in {source} line {line}: a quoted string is not closed");
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Fail(string source, int line, string what) =>
        throw new SettingsException($"syntax error in {source} line {line}: {what}");
}
