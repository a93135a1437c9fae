using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using RoRecomp.Model.Checkpoints;
using RoRecomp.Settings;
using RoRecomp.Training.Runs;

namespace RoRecomp.Cli.Commands;

/// <summary>The options several commands share, their parsers, and the one place exceptions become exit codes.</summary>
public static class CliKit
{
    /// <summary>Exit code of a usage or settings error.</summary>
    public const int UsageError = 2;

    /// <summary>Exit code of a run that failed.</summary>
    public const int RunFailed = 1;

    /// <summary>Exit code of an interrupted command (Ctrl+C, SIGTERM).</summary>
    public const int Interrupted = 130;

    /// <summary><c>--config FILE</c>: HOCON layered over the defaults.</summary>
    public static Option<string?> Config(string description = "HOCON layered over the defaults (rorecomp.* keys; unknown keys are refused)") =>
        new("--config") { Description = description, HelpName = "FILE" };

    /// <summary><c>--set key=value</c>, repeatable, in order.</summary>
    public static Option<string[]> Set(string description = "override one key, e.g. --set recomposition.enabled=off (repeatable; rorecomp. is optional)") =>
        new("--set") { Description = description, HelpName = "key=value", DefaultValueFactory = _ => [] };

    /// <summary>A string option.</summary>
    public static Option<string?> Text(string name, string helpName, string description, bool required = false) =>
        new(name) { Description = description, HelpName = helpName, Required = required };

    /// <summary>A flag (no value).</summary>
    public static Option<bool> Flag(string name, string description) => new(name) { Description = description, Arity = ArgumentArity.Zero };

    /// <summary>A positive integer option; null when not given.</summary>
    public static Option<int?> Positive(string name, string description) =>
        new(name) { Description = description, HelpName = "N", CustomParser = r => Parse(r, v => v >= 1, "a positive integer") };

    /// <summary>A positive integer option with a default.</summary>
    public static Option<int> Positive(string name, int fallback, string description) =>
        new(name)
        {
            Description = description,
            HelpName = "N",
            DefaultValueFactory = _ => fallback,
            CustomParser = r => Parse(r, v => v >= 1, "a positive integer") ?? fallback,
        };

    /// <summary>A TCP port 1-65535; null when not given.</summary>
    public static Option<int?> Port(string description) =>
        new("--port") { Description = description, HelpName = "P", CustomParser = r => Parse(r, v => v is > 0 and <= 65535, "a port 1-65535") };

    /// <summary>A number option in (0, 1]; null when not given.</summary>
    public static Option<double?> Fraction(string name, string description) =>
        new(name)
        {
            Description = description,
            HelpName = "X",
            CustomParser = r => double.TryParse(r.Tokens[0].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v is > 0 and <= 1
                ? v : Error<double?>(r, "a number in (0, 1]"),
        };

    /// <summary>A positive finite number option with a default.</summary>
    public static Option<double> PositiveNumber(string name, double fallback, string description) =>
        new(name)
        {
            Description = description,
            HelpName = "X",
            DefaultValueFactory = _ => fallback,
            CustomParser = r => double.TryParse(r.Tokens[0].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 && double.IsFinite(v)
                ? v : Error<double>(r, "a positive number"),
        };

    /// <summary>A comma-separated list (<c>--arms a,b</c>).</summary>
    public static List<string> List(string s) => [.. s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    private static int? Parse(ArgumentResult r, Func<int, bool> ok, string expected) =>
        int.TryParse(r.Tokens[0].Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && ok(v) ? v : Error<int?>(r, expected);

    private static T? Error<T>(ArgumentResult r, string expected)
    {
        var option = r.Parent is OptionResult o ? o.Option.Name : "value";
        r.AddError($"{option} {r.Tokens[0].Value}: expected {expected}");
        return default;
    }

    /// <summary>
    /// Runs a command's work and turns its exceptions into the exit codes every command shares: a settings or
    /// checkpoint error is a usage error (2), a failed run 1, an interruption 130; each message goes to stderr as
    /// <c>&lt;name&gt;: message</c>.
    /// </summary>
    /// <param name="name">The command, as messages name it (e.g. <c>train</c>, <c>bench pipeline</c>).</param>
    /// <param name="work">The work; returns the exit code.</param>
    /// <param name="afterFailure">A line printed after a failed run's message (how to continue), or null.</param>
    public static int Handle(string name, Func<int> work, string? afterFailure = null)
    {
        try
        {
            return work();
        }
        catch (Exception ex) when (ex is SettingsException or CheckpointException)
        {
            Console.Error.WriteLine($"{name}: {ex.Message}");
            return UsageError;
        }
        catch (RunFailedException ex)
        {
            Console.Error.WriteLine($"{name}: the run failed: {ex.Message}");
            if (afterFailure is not null) Console.Error.WriteLine($"{name}: {afterFailure}");
            return RunFailed;
        }
        catch (OperationCanceledException ex)
        {
            Console.Error.WriteLine(ex.Message);
            return Interrupted;
        }
    }
}
