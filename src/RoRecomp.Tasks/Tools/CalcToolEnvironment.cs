using System.Globalization;
using RoRecomp.Tasks.Synthetic;

namespace RoRecomp.Tasks.Tools;

/// <summary>Bounds of <see cref="CalcToolEnvironment"/>.</summary>
/// <param name="MaxCalls">Most tool calls per episode; the call past it gets <c>error:calls</c> and ends the episode.</param>
/// <param name="MaxExpressionChars">Longest call body accepted (tool name included).</param>
/// <param name="MaxResultDigits">Largest result magnitude, in decimal digits.</param>
public sealed record CalcToolOptions(int MaxCalls = 4, int MaxExpressionChars = 32, int MaxResultDigits = 9);

/// <summary>
/// The agentic task's sandboxed tool: <c>&lt;tool&gt;calc:EXPR&lt;/tool&gt;</c> is answered by
/// <c>&lt;result&gt;VALUE&lt;/result&gt;</c>, evaluated by <see cref="Calculator"/> (nothing is executed). Errors are results
/// too, so the model sees them: <c>error:syntax</c> (malformed call or expression), <c>error:tool</c> (unknown tool name),
/// <c>error:long</c> (call body over <see cref="CalcToolOptions.MaxExpressionChars"/>), <c>error:too-large</c>,
/// <c>error:div0</c>, <c>error:inexact</c> (non-exact division) and <c>error:calls</c> (over the call limit: ends the
/// episode). Stateless: everything it needs is in the episode text, so one instance serves any number of episodes.
/// </summary>
public sealed class CalcToolEnvironment : IToolEnvironment
{
    /// <summary>The only tool name.</summary>
    public const string ToolName = "calc";

    private readonly CalcToolOptions _options;
    private readonly long _maxMagnitude;

    /// <summary>Creates the environment; throws <see cref="ArgumentOutOfRangeException"/> for bounds out of range.</summary>
    public CalcToolEnvironment(CalcToolOptions? options = null)
    {
        _options = options ?? new CalcToolOptions();
        if (_options.MaxCalls is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(options), _options.MaxCalls, "calc tool: max-calls must be in 1..64.");
        if (_options.MaxExpressionChars is < 8 or > 256) throw new ArgumentOutOfRangeException(nameof(options), _options.MaxExpressionChars, "calc tool: max-expression-chars must be in 8..256.");
        if (_options.MaxResultDigits is < 1 or > 18) throw new ArgumentOutOfRangeException(nameof(options), _options.MaxResultDigits, "calc tool: max-result-digits must be in 1..18.");
        _maxMagnitude = (long)Math.Pow(10, _options.MaxResultDigits) - 1;
    }

    /// <inheritdoc />
    public string CallOpen => Tokens.ToolOpen;

    /// <inheritdoc />
    public string CallClose => Tokens.ToolClose;

    /// <inheritdoc />
    public int MaxCalls => _options.MaxCalls;

    /// <summary>The bounds in effect.</summary>
    public CalcToolOptions Options => _options;

    /// <inheritdoc />
    public ToolStep Step(string episode)
    {
        if (string.IsNullOrEmpty(episode) || !episode.EndsWith(Tokens.ToolClose, StringComparison.Ordinal))
            return Fail("syntax", done: true);
        int calls = CountCalls(episode);
        if (calls > _options.MaxCalls) return Fail("calls", done: true);
        int open = episode.LastIndexOf(Tokens.ToolOpen, StringComparison.Ordinal);
        if (open < 0) return Fail("syntax", done: false);
        var body = episode[(open + Tokens.ToolOpen.Length)..^Tokens.ToolClose.Length];
        var (value, error) = Answer(body);
        return error is null ? new ToolStep(Result(value!), false) : Fail(error, done: false);
    }

    /// <summary>What the tool answers to a call body such as "calc:12*7": the result text, or null and an error code.</summary>
    public (string? Value, string? Error) Answer(string body)
    {
        if (body.Length > _options.MaxExpressionChars) return (null, "long");
        int colon = body.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0) return (null, "syntax");
        if (body[..colon].Trim() != ToolName) return (null, "tool");
        var v = Calculator.Evaluate(body[(colon + 1)..], _maxMagnitude, out var error);
        return v is null ? (null, error) : (v.Value.ToString(CultureInfo.InvariantCulture), null);
    }

    /// <summary>Number of tool calls (open tags) in <paramref name="text"/>.</summary>
    public static int CountCalls(string text)
    {
        int n = 0;
        for (int i = text.IndexOf(Tokens.ToolOpen, StringComparison.Ordinal); i >= 0; i = text.IndexOf(Tokens.ToolOpen, i + 1, StringComparison.Ordinal)) n++;
        return n;
    }

    /// <summary>The result element for <paramref name="value"/>.</summary>
    public static string Result(string value) => Tokens.ResultOpen + value + Tokens.ResultClose;

    private static ToolStep Fail(string code, bool done) => new(Result("error:" + code), done, code);
}
