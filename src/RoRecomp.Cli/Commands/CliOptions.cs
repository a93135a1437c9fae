using System.Globalization;

namespace RoRecomp.Cli.Commands;

/// <summary>A command-line option was missing, unknown or ill-typed; the message says which.</summary>
public sealed class CliException(string message) : Exception(message);

/// <summary>`--name value` / `--flag` options of a command, read once each; unknown ones are refused.</summary>
public sealed class CliOptions
{
    private readonly Dictionary<string, List<string?>> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    private CliOptions() { }

    public static CliOptions Parse(IReadOnlyList<string> args)
    {
        var o = new CliOptions();
        for (var i = 0; i < args.Count; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || args[i].Length == 2)
                throw new CliException($"unexpected argument '{args[i]}' (options look like --name value)");
            var name = args[i][2..];
            string? value = null;
            if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal)) value = args[++i];
            if (!o._values.TryGetValue(name, out var list)) o._values[name] = list = [];
            list.Add(value);
        }
        return o;
    }

    public string? String(string name)
    {
        _read.Add(name);
        if (!_values.TryGetValue(name, out var vs)) return null;
        if (vs.Count > 1) throw new CliException($"--{name} given {vs.Count} times; give it once");
        return vs[0] ?? throw new CliException($"--{name} needs a value");
    }

    /// <summary>Every value of a repeatable option (e.g. <c>--set a=1 --set b=2</c>), in order.</summary>
    public IReadOnlyList<string> Strings(string name)
    {
        _read.Add(name);
        if (!_values.TryGetValue(name, out var vs)) return [];
        return [.. vs.Select(v => v ?? throw new CliException($"--{name} needs a value"))];
    }

    /// <summary>Whether the flag <c>--name</c> (no value) was given.</summary>
    public bool Flag(string name)
    {
        _read.Add(name);
        if (!_values.TryGetValue(name, out var vs)) return false;
        return vs.All(v => v is null) ? true : throw new CliException($"--{name} is a flag and takes no value");
    }

    public int Int(string name, int fallback)
    {
        var s = String(name);
        if (s is null) return fallback;
        return int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0
            ? v
            : throw new CliException($"--{name} {s}: expected a positive integer");
    }

    /// <summary>A TCP port 1-65535.</summary>
    public static int Port(string s) =>
        int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v is > 0 and <= 65535
            ? v
            : throw new CliException($"port {s}: expected 1-65535");

    public void RejectUnknown()
    {
        var unknown = _values.Keys.Where(k => !_read.Contains(k)).ToList();
        if (unknown.Count > 0) throw new CliException($"unknown option(s): {string.Join(", ", unknown.Select(k => "--" + k))}");
    }
}
