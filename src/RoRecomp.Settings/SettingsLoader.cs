using System.Collections.Immutable;
using System.Globalization;
using System.Reflection;
using Akka.Configuration;
using Akka.Configuration.Hocon;
using RoRecomp.Core.Advantages;
using RoRecomp.Core.Recomposition;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Schedules;
using RoRecomp.Core.Training;

namespace RoRecomp.Settings;

/// <summary>
/// Loads <see cref="RoRecompSettings"/>: the embedded hocon/reference.conf as fallback, then a resumed run's run.conf,
/// <c>--config FILE</c>, each <c>--set key=value</c> and the typed flags of <see cref="SettingsOverrides"/>, in that order.
/// Every layer is checked for unknown <c>rorecomp.*</c> keys (typos) and every value, once, for its type, range and (for
/// names) the registry that defines them; errors are <see cref="SettingsException"/>s naming key, value and source.
/// </summary>
public static class SettingsLoader
{
    private static readonly Lazy<Config> ReferenceLazy = new(() => ParseEmbedded("RoRecomp.reference.conf"));
    private static readonly Lazy<Config> LocalLazy = new(() => ParseEmbedded("RoRecomp.local.conf"));

    /// <summary>hocon/reference.conf: every <c>rorecomp.*</c> key with its default.</summary>
    public static Config Reference => ReferenceLazy.Value;

    /// <summary>Loads and validates the settings of <c>--config</c> and <c>--set</c> only (see <see cref="Resolve"/>).</summary>
    /// <param name="configFile">Optional HOCON file (<c>--config</c>); null = single-node defaults only.</param>
    /// <param name="sets">Overrides <c>key=value</c> (<c>--set</c>), applied in order; the key may omit the <c>rorecomp.</c> prefix.</param>
    public static RoRecompSettings Load(string? configFile, IReadOnlyList<string> sets) => Resolve(new SettingsOverrides(configFile, sets)).Settings;

    /// <summary>Loads and validates the settings with every override of an invocation (see <see cref="Resolve"/>).</summary>
    public static RoRecompSettings Load(SettingsOverrides overrides) => Resolve(overrides).Settings;

    /// <summary>
    /// Layers <paramref name="overrides"/> over the defaults (see <see cref="SettingsOverrides"/> for the order), reads
    /// every <c>rorecomp.*</c> key into <see cref="RoRecompSettings"/> and checks every rule once; a bad value fails
    /// here with a <see cref="SettingsException"/> naming the key, the value and the file, <c>--set</c> or flag it came from.
    /// </summary>
    public static LoadedSettings Resolve(SettingsOverrides overrides)
    {
        var layers = new List<Layer> { new(Reference, "reference.conf"), new(LocalLazy.Value, "local.conf") };
        if (overrides.BaseFile is not null) layers.Add(ParseFile(overrides.BaseFile, "run configuration"));
        if (overrides.ConfigFile is not null) layers.Add(ParseFile(overrides.ConfigFile, "config file (check the --config path)"));
        foreach (var set in overrides.SetList)
        {
            var (key, value) = SplitSet(set);
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
            layers.Add(new(layer, where));
        }
        var merged = layers[0].Config;
        foreach (var layer in layers.Skip(1)) merged = layer.Config.WithFallback(merged);
        var typed = new Dictionary<string, TypedValue>(StringComparer.Ordinal);
        foreach (var t in overrides.Typed()) typed[t.Key] = t;
        return new LoadedSettings(Read(new Reader(merged, layers, typed)), AkkaSection(merged));
    }

    /// <summary>
    /// The layers above the defaults as one HOCON text (the run.conf being resumed, the config file's text, then one line
    /// per override): parsing it over the defaults gives the same settings again. A run saves it as run.conf so
    /// <c>--resume</c> continues alike. Where this process sits in a cluster (<c>cluster.*</c>) is a property of the
    /// invocation, not of the run, and is left out.
    /// </summary>
    public static string RenderLayers(SettingsOverrides overrides)
    {
        var sb = new System.Text.StringBuilder();
        if (overrides.BaseFile is not null) sb.AppendLine(File.ReadAllText(overrides.BaseFile).TrimEnd());
        if (overrides.ConfigFile is not null)
        {
            sb.AppendLine($"# --config {Path.GetFullPath(overrides.ConfigFile)}");
            sb.AppendLine(File.ReadAllText(overrides.ConfigFile).TrimEnd());
        }
        foreach (var set in overrides.SetList)
        {
            var (key, value) = SplitSet(set);
            if (!key.StartsWith("rorecomp.cluster.", StringComparison.Ordinal)) sb.AppendLine($"{key} = {HoconLiteral(value)}");
        }
        foreach (var t in overrides.Typed().Where(t => t.Saved)) sb.AppendLine($"rorecomp.{t.Key} = {TypedLiteral(t.Value)}");
        return sb.ToString();
    }

    /// <summary>A <c>--set key=value</c> as its full key (<c>rorecomp.</c> added unless it is an <c>akka.*</c> key) and its value.</summary>
    private static (string Key, string Value) SplitSet(string set)
    {
        var eq = set.IndexOf('=');
        if (eq <= 0)
            throw new SettingsException($"--set expects key=value, got '{set}'");
        var key = set[..eq].Trim();
        if (!key.StartsWith("rorecomp.", StringComparison.Ordinal) && !key.StartsWith("akka.", StringComparison.Ordinal))
            key = "rorecomp." + key;
        return (key, set[(eq + 1)..].Trim());
    }

    /// <summary>Largest config file the loader reads (1 MiB): a real one is a few KB; a bigger one is the wrong file.</summary>
    public const long MaxConfigFileBytes = 1024 * 1024;

    private static Layer ParseFile(string path, string what)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new SettingsException($"{what} not found: {full}");
        var size = new FileInfo(full).Length;
        if (size > MaxConfigFileBytes)
            throw new SettingsException($"{what} {full} has {size:N0} bytes, more than the {MaxConfigFileBytes:N0} a config file may have: is it the right file?");
        var text = File.ReadAllText(full);
        HoconSyntax.Check(text, full);
        Config file;
        try
        {
            file = ConfigurationFactory.ParseString(text);
        }
        catch (Exception e)
        {
            throw new SettingsException($"cannot parse HOCON in {full}: {e.Message}", e);
        }
        CheckKnownKeys(file, full);
        return new Layer(file, full);
    }

    /// <summary>
    /// The <c>akka.*</c> part of a merged config (a config file may set e.g. TLS for Akka.Remote), or an empty config:
    /// the node's actor system layers it over RoRecomp's own Akka settings.
    /// </summary>
    public static Config AkkaSection(Config merged) =>
        merged.HasPath("akka") ? merged.GetValue("akka").AtKey("akka") : ConfigurationFactory.Empty;

    /// <summary>Reads every <c>rorecomp.*</c> key, checking its rule, then the rules that tie keys together.</summary>
    private static RoRecompSettings Read(Reader r)
    {
        var settings = new RoRecompSettings(
            new RunSettings(
                r.String("run.run-dir", nonEmpty: true), r.Int("run.seed"), r.Int("run.steps", 0),
                r.OneOf("run.task", [.. RoRecomp.Tasks.TaskRegistry.Names]), r.Int("run.prompts-per-step", 1), r.Int("run.samples-per-prompt", 1),
                r.Int("run.eval-every", 0), r.Int("run.eval-size", 1), r.Int("run.lease-size", 1), r.Int("run.lease-timeout", 1),
                r.Bool("run.tensorboard")),
            new WarmStartSettings(
                r.Int("warm-start.steps", 1), r.Int("warm-start.batch-size", 1), r.Double("warm-start.lr", 0, exclusiveMin: true),
                r.Double("warm-start.target-accuracy", 0, 1)),
            new SamplingSettings(
                r.Double("sampling.temperature", 0, exclusiveMin: true), r.Double("sampling.top-p", 0, 1, exclusiveMin: true),
                r.Int("sampling.top-k", 0), r.Int("sampling.max-new-tokens", 1), r.Int("sampling.samplers", 1, 64)),
            new ModelSettings(
                r.String("model.preset", nonEmpty: true), r.String("model.checkpoint"), r.OneOf("model.attention", "eager", "sdpa"),
                r.OneOf("model.source", ModelSettings.Tiny, ModelSettings.HuggingFace), r.String("model.path"), r.Device("model.device"),
                r.OneOf("model.dtype", "fp32", "bf16")),
            new TaskDataSettings(
                r.String("task.train-path"), r.String("task.test-path"), r.String("task.question-field"), r.String("task.answer-field"),
                r.OneOf("task.answer-style", "auto", "gsm8k", "boxed", "raw"), r.String("task.prompt-template"), r.String("task.system-prompt"),
                r.Int("task.max-skipped", 0), r.Int("task.test-percent", 1, 50)),
            new AlgorithmSettings(r.OneOf("algorithm.advantage-estimator", [.. AdvantageEstimators.Names]), r.Double("algorithm.eps", 0, exclusiveMin: true)),
            new RewardSettings(r.Double("reward.length-penalty", 0, 1), r.Int("reward.target-length", 0)),
            new PolicyLossSettings(
                r.Double("policy-loss.clip-eps-low", 0, 1), r.Double("policy-loss.clip-eps-high", 0),
                r.OneOf("policy-loss.loss-agg-mode", [.. LossAggregationModes.Names]),
                r.Double("policy-loss.kl-coef", 0), r.Double("policy-loss.lr", 0, exclusiveMin: true),
                r.Int("policy-loss.warmup-steps", 0), r.Double("policy-loss.weight-decay", 0), r.Double("policy-loss.grad-clip", 0),
                r.Int("policy-loss.micro-batch-size", 1), r.Int("policy-loss.max-tokens-per-micro-batch", 0),
                r.Bool("policy-loss.activation-checkpointing")),
            new RecompositionSettings(
                r.Bool("recomposition.enabled"), r.OneOf("recomposition.scope", SettingNames.Of<RankScope>()),
                r.Double("recomposition.priority-fraction", 0, 1, exclusiveMin: true),
                r.OneOf("recomposition.length-key", SettingNames.Of<LengthKey>()),
                r.OneOf("recomposition.advantage-scope", SettingNames.Of<AdvantageScope>())),
            new CompensationSettings(
                r.Int("compensation.every", 0), r.Int("compensation.batch-size", 1),
                r.OneOf("compensation.weight-schedule", SettingNames.Of<WeightSchedule>()),
                r.Double("compensation.weight-start", 0), r.Double("compensation.weight-end", 0),
                r.OneOf("compensation.draw-order", SettingNames.Of<DrawOrder>())),
            new BufferSettings(
                r.Int("buffer.capacity", 1), r.Int("buffer.max-staleness", 0), r.Int("buffer.snapshot-every", 1),
                r.OneOf("buffer.response-bodies", BufferSettings.Table, BufferSettings.Journal)),
            new AsyncSettings(r.Int("async.max-policy-lag", 0)),
            new PersistenceSettings(
                r.OneOf("persistence.provider", [.. PersistenceSettings.Providers]), r.String("persistence.connection-string"), r.String("persistence.sqlite-path"),
                r.String("persistence.run-id"), r.OneOf("persistence.sqlite-journal-mode", PersistenceSettings.Wal, PersistenceSettings.Delete)),
            new CheckpointSettings(r.Int("checkpoint.every", 0), r.Int("checkpoint.keep-last", 1)),
            new ClusterSettings(
                r.Roles("cluster.roles"), r.String("cluster.hostname", nonEmpty: true), r.Int("cluster.port", 0, 65535),
                r.SeedNodes("cluster.seed-nodes"), r.Int("cluster.stable-after", 1), r.Int("cluster.weights-port", 0, 65535),
                r.Int("cluster.weights-relay-fanout", 0, 64), r.Int("cluster.join-timeout", 0)));
        settings = settings with { Fingerprint = RunFingerprint.Of(settings) };
        if (settings.Model.IsHuggingFace && settings.Model.Path.Length == 0)
            throw r.Bad("model.path", "", $"a Hugging Face model directory with rorecomp.model.source = hf ({r.Source("model.source")})");
        if (settings.Run.Task == "jsonl" && settings.TaskData.TrainPath.Length == 0)
            throw r.Bad("task.train-path", "", $"a JSONL file of training problems with rorecomp.run.task = jsonl ({r.Source("run.task")})");
        if (settings.Run.Task == "jsonl" && !settings.Model.IsHuggingFace)
            throw r.Bad("model.source", settings.Model.Source, $"hf with rorecomp.run.task = jsonl ({r.Source("run.task")}): a dataset of natural text needs the model's tokenizer (set model.path to a Hugging Face directory)");
        if (settings.TaskData.PromptTemplate.Length > 0 && !settings.TaskData.PromptTemplate.Contains("{question}", StringComparison.Ordinal))
            throw r.Bad("task.prompt-template", settings.TaskData.PromptTemplate, "a text with a {question} placeholder, or \"\" for the model's chat template");
        if (settings.Persistence.Provider == PersistenceSettings.PostgreSql && settings.Persistence.ConnectionString.Length == 0)
            throw r.Bad("persistence.connection-string", "", $"a connection string with rorecomp.persistence.provider = {PersistenceSettings.PostgreSql} ({r.Source("persistence.provider")}), e.g. \"Host=db;Database=rorecomp;Username=rl;Password=...\"");
        return settings;
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

    /// <summary>A typed override as HOCON: a number, a quoted string or a list of quoted strings.</summary>
    private static string TypedLiteral(object value) => value switch
    {
        int i => i.ToString(CultureInfo.InvariantCulture),
        ImmutableArray<string> list => "[" + string.Join(", ", list.Select(Quoted)) + "]",
        _ => Quoted(value.ToString() ?? ""),
    };

    private static string Quoted(string s) =>
        "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    /// <summary>Numbers, booleans, lists and quoted strings pass through; anything else becomes a quoted string.</summary>
    private static string HoconLiteral(string value)
    {
        if (value.Length == 0)
            return "\"\"";
        if (value[0] is '"' or '[' or '{'
            || double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
            || value is "true" or "false" or "on" or "off" or "yes" or "no")
            return value;
        return Quoted(value);
    }

    private static Config ParseEmbedded(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"embedded resource {name} missing from {typeof(SettingsLoader).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }

    /// <summary>A layer of the merged config and where it came from (a file's path, <c>--set key=value</c>).</summary>
    private sealed record Layer(Config Config, string Source);

    /// <summary>Reads of <c>rorecomp.*</c> values that check type and range; errors name the key, the value, its source and what is allowed.</summary>
    private sealed class Reader(Config config, IReadOnlyList<Layer> layers, IReadOnlyDictionary<string, TypedValue> typed)
    {
        /// <summary>Where the value of <paramref name="key"/> comes from: the flag, or the topmost layer that sets it.</summary>
        public string Source(string key)
        {
            if (typed.TryGetValue(key, out var t)) return t.Flag;
            for (var i = layers.Count - 1; i >= 0; i--)
            {
                if (layers[i].Config.HasPath("rorecomp." + key)) return layers[i].Source;
            }
            return "reference.conf";
        }

        private string Raw(string key)
        {
            if (typed.TryGetValue(key, out var t))
            {
                return t.Value as string ?? (t.Value is int i ? i.ToString(CultureInfo.InvariantCulture)
                    : throw new SettingsException($"rorecomp.{key} must be a single value, not a list ({t.Flag})"));
            }
            var value = config.GetValue("rorecomp." + key);
            if (value is null || value.IsEmpty)
                throw new SettingsException($"rorecomp.{key} is missing in {Source(key)} (it has a default in reference.conf; was it set to null?)");
            if (value.IsObject() || value.IsArray())
                throw new SettingsException($"rorecomp.{key} must be a single value, not a section or list ({Source(key)})");
            return value.GetString();
        }

        public SettingsException Bad(string key, string raw, string allowed) =>
            new($"rorecomp.{key} = '{raw}' in {Source(key)}: expected {allowed}");

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

        /// <summary><c>auto</c>, <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c> (N a device index).</summary>
        public string Device(string key)
        {
            var raw = Raw(key);
            if (raw is "auto" or "cpu" or "cuda") return raw;
            if (raw.StartsWith("cuda:", StringComparison.Ordinal)
                && int.TryParse(raw.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out _))
                return raw;
            throw Bad(key, raw, "auto | cpu | cuda | cuda:N");
        }

        public ImmutableArray<string> Roles(string key)
        {
            var roles = StringList(key);
            foreach (var role in roles)
            {
                if (!ClusterSettings.KnownRoles.Contains(role))
                    throw new SettingsException($"rorecomp.{key} has unknown role '{role}' in {Source(key)}: roles are {string.Join(", ", ClusterSettings.KnownRoles)}");
            }
            if (roles.IsEmpty) throw new SettingsException($"rorecomp.{key} is empty in {Source(key)}: give a node at least one of {string.Join(", ", ClusterSettings.KnownRoles)}");
            return roles;
        }

        public ImmutableArray<string> SeedNodes(string key)
        {
            var seeds = StringList(key);
            foreach (var seed in seeds)
            {
                if (!Uri.TryCreate(seed, UriKind.Absolute, out var uri) || uri.Scheme is not ("akka.tcp" or "akka.ssl.tcp") || uri.UserInfo != "rorecomp" || uri.Port <= 0)
                    throw new SettingsException($"rorecomp.{key} has '{seed}' in {Source(key)}: expected akka.tcp://rorecomp@host:port (akka.ssl.tcp:// with TLS)");
            }
            return seeds;
        }

        public ImmutableArray<string> StringList(string key)
        {
            if (typed.TryGetValue(key, out var t))
                return t.Value is ImmutableArray<string> list ? list : throw Bad(key, t.Value.ToString() ?? "", "a list, e.g. [\"a\", \"b\"]");
            var value = config.GetValue("rorecomp." + key);
            if (value is null || value.IsEmpty)
                return [];
            if (value.IsObject() || (!value.IsArray() && value.IsString()))
                throw Bad(key, value.IsString() ? value.GetString() : "{...}", "a list, e.g. [\"a\", \"b\"]");
            return [.. value.GetStringList()];
        }
    }
}
