using System.Collections.Immutable;
using System.Globalization;
using System.Reflection;
using Akka.Configuration;
using Akka.Configuration.Hocon;

namespace RoRecomp.Settings;

/// <summary>
/// Loads <see cref="RoRecompSettings"/>: the embedded hocon/reference.conf as fallback, then <c>--config FILE</c>
/// layered over it, then each <c>--set key=value</c> over that. Every layer is checked for unknown
/// <c>rorecomp.*</c> keys (typos) and every value for its type and range; errors are <see cref="SettingsException"/>s.
/// </summary>
public static class SettingsLoader
{
    private static readonly Lazy<Config> ReferenceLazy = new(() => ParseEmbedded("RoRecomp.reference.conf"));
    private static readonly Lazy<Config> LocalLazy = new(() => ParseEmbedded("RoRecomp.local.conf"));

    /// <summary>hocon/reference.conf: every <c>rorecomp.*</c> key with its default.</summary>
    public static Config Reference => ReferenceLazy.Value;

    /// <summary>hocon/local.conf (single-node defaults) over <see cref="Reference"/>.</summary>
    public static Config Local => LocalLazy.Value.WithFallback(Reference);

    /// <summary>Loads and validates the settings (see the type's summary for the layering).</summary>
    /// <param name="configFile">Optional HOCON file (<c>--config</c>); null = single-node defaults only.</param>
    /// <param name="sets">Overrides <c>key=value</c> (<c>--set</c>), applied in order; the key may omit the <c>rorecomp.</c> prefix.</param>
    public static RoRecompSettings Load(string? configFile, IReadOnlyList<string> sets) => FromConfig(LoadConfig(configFile, sets));

    /// <summary>The merged HOCON (with <c>akka.*</c> keys a config file may carry); see <see cref="Load"/>.</summary>
    /// <param name="configFile">Optional HOCON file (<c>--config</c>).</param>
    /// <param name="sets">Overrides <c>key=value</c>, applied in order.</param>
    /// <param name="baseFile">Optional HOCON file layered under <paramref name="configFile"/> (a resumed run's run.conf).</param>
    public static Config LoadConfig(string? configFile, IReadOnlyList<string> sets, string? baseFile = null)
    {
        var config = Local;
        if (baseFile is not null) config = ParseFile(baseFile, "run configuration").WithFallback(config);
        if (configFile is not null) config = ParseFile(configFile, "config file (check the --config path)").WithFallback(config);

        foreach (var set in sets)
        {
            var eq = set.IndexOf('=');
            if (eq <= 0)
                throw new SettingsException($"--set expects key=value, got '{set}'");
            var key = set[..eq].Trim();
            if (!key.StartsWith("rorecomp.", StringComparison.Ordinal) && !key.StartsWith("akka.", StringComparison.Ordinal))
                key = "rorecomp." + key;
            var value = set[(eq + 1)..].Trim();
            var where = $"--set {set}";
            Config layer;
            try
            {
                layer = ConfigurationFactory.ParseString($"{key} = {HoconLiteral(value)}");
            }
            catch (Exception e)
            {
                throw new SettingsException($"cannot parse {where}: {e.Message}", e);
            }
            CheckKnownKeys(layer, where);
            config = layer.WithFallback(config);
        }
        return config;
    }

    /// <summary>
    /// The layers above the defaults as one HOCON text (the config file's text, then one line per override): parsing it
    /// over the defaults gives the same settings again. A run saves it as run.conf so <c>--resume</c> continues alike.
    /// </summary>
    public static string RenderLayers(string? configFile, IReadOnlyList<string> sets, string? baseFile = null)
    {
        var sb = new System.Text.StringBuilder();
        if (baseFile is not null) sb.AppendLine(File.ReadAllText(baseFile).TrimEnd());
        if (configFile is not null)
        {
            sb.AppendLine($"# --config {Path.GetFullPath(configFile)}");
            sb.AppendLine(File.ReadAllText(configFile).TrimEnd());
        }
        foreach (var set in sets)
        {
            var eq = set.IndexOf('=');
            var key = set[..eq].Trim();
            if (!key.StartsWith("rorecomp.", StringComparison.Ordinal) && !key.StartsWith("akka.", StringComparison.Ordinal))
                key = "rorecomp." + key;
            sb.AppendLine($"{key} = {HoconLiteral(set[(eq + 1)..].Trim())}");
        }
        return sb.ToString();
    }

    private static Config ParseFile(string path, string what)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new SettingsException($"{what} not found: {full}");
        Config file;
        try
        {
            file = ConfigurationFactory.ParseString(File.ReadAllText(full));
        }
        catch (Exception e)
        {
            throw new SettingsException($"cannot parse HOCON in {full}: {e.Message}", e);
        }
        CheckKnownKeys(file, full);
        return file;
    }

    /// <summary>
    /// The <c>akka.*</c> part of a merged config (a config file may set e.g. TLS for Akka.Remote), or an empty config:
    /// the node's actor system layers it over RoRecomp's own Akka settings.
    /// </summary>
    public static Config AkkaSection(Config merged) =>
        merged.HasPath("akka") ? merged.GetValue("akka").AtKey("akka") : ConfigurationFactory.Empty;

    /// <summary>Reads and validates the <c>rorecomp</c> section of an already merged config (fallback to the reference is added).</summary>
    public static RoRecompSettings FromConfig(Config config)
    {
        var r = new Reader(config.WithFallback(Reference));
        string[] providers = ["sqlite", "postgresql"];
        return new RoRecompSettings(
            new RunSettings(
                r.String("run.run-dir", nonEmpty: true), r.Int("run.seed"), r.Int("run.steps", 0),
                r.OneOf("run.task", [.. RoRecomp.Tasks.TaskRegistry.Names]), r.Int("run.prompts-per-step", 1), r.Int("run.samples-per-prompt", 1),
                r.Int("run.eval-every", 0), r.Int("run.eval-size", 1), r.Int("run.lease-size", 1), r.Int("run.lease-timeout", 1)),
            new WarmStartSettings(
                r.Int("warm-start.steps", 1), r.Int("warm-start.batch-size", 1), r.Double("warm-start.lr", 0, exclusiveMin: true),
                r.Double("warm-start.target-accuracy", 0, 1)),
            new SamplingSettings(
                r.Double("sampling.temperature", 0, exclusiveMin: true), r.Double("sampling.top-p", 0, 1, exclusiveMin: true),
                r.Int("sampling.top-k", 0), r.Int("sampling.max-new-tokens", 1), r.Int("sampling.samplers", 1, 64)),
            new ModelSettings(r.String("model.preset", nonEmpty: true), r.String("model.checkpoint")),
            new AlgorithmSettings(r.OneOf("algorithm.advantage-estimator", "grpo", "dr-grpo"), r.Double("algorithm.eps", 0)),
            new RewardSettings(r.Double("reward.length-penalty", 0, 1), r.Int("reward.target-length", 0)),
            new PolicyLossSettings(
                r.Double("policy-loss.clip-eps-low", 0, 1), r.Double("policy-loss.clip-eps-high", 0),
                r.OneOf("policy-loss.loss-agg-mode", "token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"),
                r.Double("policy-loss.kl-coef", 0), r.Double("policy-loss.lr", 0, exclusiveMin: true),
                r.Int("policy-loss.warmup-steps", 0), r.Double("policy-loss.weight-decay", 0), r.Double("policy-loss.grad-clip", 0),
                r.Int("policy-loss.micro-batch-size", 1)),
            new RecompositionSettings(
                r.Bool("recomposition.enabled"), r.OneOf("recomposition.scope", "batch", "group"),
                r.Double("recomposition.priority-fraction", 0, 1, exclusiveMin: true),
                r.OneOf("recomposition.length-key", "tokens", "tool-calls-then-tokens"),
                r.OneOf("recomposition.advantage-scope", "recomposed", "original")),
            new CompensationSettings(
                r.Int("compensation.every", 0), r.Int("compensation.batch-size", 1),
                r.OneOf("compensation.weight-schedule", "constant", "linear", "cosine"),
                r.Double("compensation.weight-start", 0), r.Double("compensation.weight-end", 0),
                r.OneOf("compensation.draw-order", "oldest-first", "uniform")),
            new BufferSettings(r.Int("buffer.capacity", 1), r.Int("buffer.max-staleness", 0), r.Int("buffer.snapshot-every", 1)),
            new AsyncSettings(r.Int("async.max-policy-lag", 0)),
            new PersistenceSettings(
                r.OneOf("persistence.provider", providers), r.String("persistence.connection-string"), r.String("persistence.sqlite-path"),
                r.String("persistence.run-id")),
            new CheckpointSettings(r.Int("checkpoint.every", 0), r.Int("checkpoint.keep-last", 1)),
            new ClusterSettings(
                r.Roles("cluster.roles"), r.String("cluster.hostname", nonEmpty: true), r.Int("cluster.port", 0, 65535),
                r.StringList("cluster.seed-nodes"), r.Int("cluster.stable-after", 1), r.Int("cluster.weights-port", 0, 65535)));
    }

    /// <summary>Rejects any <c>rorecomp.*</c> key of <paramref name="layer"/> that reference.conf does not define.</summary>
    private static void CheckKnownKeys(Config layer, string where)
    {
        var root = layer.Root;
        if (root is null || !root.IsObject())
            return;
        if (!root.GetObject().Items.TryGetValue("rorecomp", out var section))
            return;
        var reference = Reference.Root.GetObject().Items["rorecomp"];
        Walk("rorecomp", section, reference, where);
    }

    private static void Walk(string path, HoconValue value, HoconValue reference, string where)
    {
        if (!reference.IsObject())
        {
            if (value.IsObject())
                throw new SettingsException($"{path} is a value, not a section, in {where}");
            return;
        }
        if (!value.IsObject())
            throw new SettingsException($"{path} is a section, not a value, in {where} (set one of its keys: {string.Join(", ", reference.GetObject().Items.Keys)})");
        var known = reference.GetObject().Items;
        foreach (var (key, child) in value.GetObject().Items)
        {
            if (!known.TryGetValue(key, out var refChild))
            {
                var suggestion = Closest(key, known.Keys);
                var hint = suggestion is null ? $"known keys: {string.Join(", ", known.Keys)}" : $"did you mean {suggestion}?";
                throw new SettingsException($"unknown key {path}.{key} ({hint}) in {where}");
            }
            Walk($"{path}.{key}", child, refChild, where);
        }
    }

    private static string? Closest(string key, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var c in candidates)
        {
            var d = Levenshtein(key, c);
            if (d < bestDistance)
            {
                best = c;
                bestDistance = d;
            }
        }
        return bestDistance <= Math.Max(2, key.Length / 3) ? best : null;
    }

    private static int Levenshtein(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
            prev[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }

    /// <summary>Numbers, booleans, lists and quoted strings pass through; anything else becomes a quoted string.</summary>
    private static string HoconLiteral(string value)
    {
        if (value.Length == 0)
            return "\"\"";
        if (value[0] is '"' or '[' or '{'
            || double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
            || value is "true" or "false" or "on" or "off" or "yes" or "no")
            return value;
        return "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
    }

    private static Config ParseEmbedded(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"embedded resource {name} missing from {typeof(SettingsLoader).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }

    /// <summary>Typed, range-checked reads of <c>rorecomp.*</c> values; errors name the key, the value and what is allowed.</summary>
    private sealed class Reader(Config config)
    {
        private string Raw(string key)
        {
            var value = config.GetValue("rorecomp." + key);
            if (value is null || value.IsEmpty)
                throw new SettingsException($"rorecomp.{key} is missing (it has a default in reference.conf; was it set to null?)");
            if (value.IsObject() || value.IsArray())
                throw new SettingsException($"rorecomp.{key} must be a single value, not a section or list");
            return value.GetString();
        }

        private static SettingsException Bad(string key, string raw, string allowed) =>
            new($"rorecomp.{key} = '{raw}' is not valid: expected {allowed}");

        public string String(string key, bool nonEmpty = false)
        {
            var raw = Raw(key);
            if (nonEmpty && raw.Length == 0)
                throw Bad(key, raw, "a non-empty string");
            return raw;
        }

        public string OneOf(string key, params string[] allowed)
        {
            var raw = Raw(key);
            return allowed.Contains(raw, StringComparer.Ordinal) ? raw : throw Bad(key, raw, "one of " + string.Join(" | ", allowed));
        }

        public bool Bool(string key)
        {
            var raw = Raw(key);
            return raw switch
            {
                "true" or "on" or "yes" => true,
                "false" or "off" or "no" => false,
                _ => throw Bad(key, raw, "true or false"),
            };
        }

        public int Int(string key, int min = int.MinValue, int max = int.MaxValue)
        {
            var raw = Raw(key);
            var range = (min, max) switch
            {
                (int.MinValue, int.MaxValue) => "",
                (_, int.MaxValue) => $" >= {min}",
                _ => $" in [{min}, {max}]",
            };
            if (!int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
                throw Bad(key, raw, "an integer" + range);
            return v;
        }

        public double Double(string key, double min = double.NegativeInfinity, double max = double.PositiveInfinity, bool exclusiveMin = false)
        {
            var raw = Raw(key);
            var lower = exclusiveMin ? $"> {min.ToString(CultureInfo.InvariantCulture)}" : $">= {min.ToString(CultureInfo.InvariantCulture)}";
            var range = double.IsPositiveInfinity(max) ? lower : $"{lower} and <= {max.ToString(CultureInfo.InvariantCulture)}";
            if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v)
                || v < min || (exclusiveMin && v <= min) || v > max)
                throw Bad(key, raw, "a number " + range);
            return v;
        }

        public ImmutableArray<string> Roles(string key)
        {
            var roles = StringList(key);
            foreach (var role in roles)
            {
                if (!ClusterSettings.KnownRoles.Contains(role))
                    throw new SettingsException($"rorecomp.{key} has unknown role '{role}': roles are {string.Join(", ", ClusterSettings.KnownRoles)}");
            }
            if (roles.IsEmpty) throw new SettingsException($"rorecomp.{key} is empty: give a node at least one of {string.Join(", ", ClusterSettings.KnownRoles)}");
            return roles;
        }

        public ImmutableArray<string> StringList(string key)
        {
            var value = config.GetValue("rorecomp." + key);
            if (value is null || value.IsEmpty)
                return [];
            if (value.IsObject() || (!value.IsArray() && value.IsString()))
                throw new SettingsException($"rorecomp.{key} = '{(value.IsString() ? value.GetString() : "{...}")}' is not valid: expected a list, e.g. [\"a\", \"b\"]");
            return [.. value.GetStringList()];
        }
    }
}
