using RoRecomp.Settings;

namespace RoRecomp.Settings.Tests;

public sealed class SettingsLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-cfg-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteConfig(string text)
    {
        var path = Path.Combine(_dir, "exp.conf");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Defaults_come_from_reference_conf()
    {
        var s = SettingsLoader.Load(null, []);
        Assert.Equal(0.5, s.Recomposition.PriorityFraction);
        Assert.Equal("grpo", s.Algorithm.AdvantageEstimator);
        Assert.Equal("sqlite", s.Persistence.Provider);
        Assert.Equal("127.0.0.1", s.Cluster.Hostname);
        Assert.True(s.Recomposition.Enabled);
        Assert.Contains("learner", s.Cluster.Roles);
        Assert.Empty(s.Cluster.SeedNodes);
    }

    [Fact]
    public void File_then_set_overrides_layer_in_order()
    {
        var file = WriteConfig("rorecomp { recomposition.scope = group, run.steps = 7, run.run-dir = \"/tmp/a b\" }");
        var s = SettingsLoader.Load(file, ["rorecomp.run.steps=9", "recomposition.enabled=false", "cluster.roles=[learner]",
            "run.task=zero-rl", "run.run-dir=/tmp/gsm/8k:test"]);
        Assert.Equal("group", s.Recomposition.Scope);
        Assert.Equal(9, s.Run.Steps);
        Assert.False(s.Recomposition.Enabled);
        Assert.Equal(["learner"], s.Cluster.Roles.ToArray());
        Assert.Equal("/tmp/gsm/8k:test", s.Run.RunDir);   // special characters pass through --set unquoted
        Assert.Equal("zero-rl", s.Run.Task);
    }

    [Fact]
    public void Akka_keys_of_a_config_file_reach_the_actor_system_config()
    {
        var file = WriteConfig("akka.remote.dot-netty.tcp.enable-ssl = true\nrorecomp.run.steps = 3");
        var loaded = SettingsLoader.Resolve(new SettingsOverrides(file));
        Assert.True(loaded.Akka.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl"));
        Assert.True(loaded.RemoteSsl);
        Assert.False(loaded.Akka.HasPath("rorecomp"));
        Assert.False(SettingsLoader.Resolve(new SettingsOverrides()).Akka.HasPath("akka"));
    }

    [Fact]
    public void Unknown_task_and_role_are_refused_with_the_known_ones()
    {
        var task = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, ["run.task=chess"]));
        Assert.Contains("thinking", task.Message);
        var role = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, ["cluster.roles=[learner, coordinator]"]));
        Assert.Contains("unknown role 'coordinator'", role.Message);
    }

    [Fact]
    public void Unknown_key_in_file_names_key_suggestion_and_file()
    {
        var file = WriteConfig("rorecomp.recomposition.priorty-fraction = 0.3");
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(file, []));
        Assert.Equal($"unknown key rorecomp.recomposition.priorty-fraction (did you mean priority-fraction?) in {file}", e.Message);
    }

    [Fact]
    public void Unknown_section_and_unknown_set_key_are_rejected()
    {
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, ["rorecomp.bufer.capacity=3"]));
        Assert.Contains("unknown key rorecomp.bufer (did you mean buffer?) in --set rorecomp.bufer.capacity=3", e.Message);
    }

    [Theory]
    [InlineData("run.steps=abc", "rorecomp.run.steps = 'abc' in --set run.steps=abc: expected an integer >= 0")]
    [InlineData("recomposition.priority-fraction=1.5", "rorecomp.recomposition.priority-fraction = '1.5' in --set recomposition.priority-fraction=1.5: expected a number > 0 and <= 1")]
    [InlineData("recomposition.scope=global", "rorecomp.recomposition.scope = 'global' in --set recomposition.scope=global: expected one of batch | group")]
    [InlineData("recomposition.enabled=maybe", "rorecomp.recomposition.enabled = 'maybe' in --set recomposition.enabled=maybe: expected true or false")]
    [InlineData("cluster.port=70000", "rorecomp.cluster.port = '70000' in --set cluster.port=70000: expected an integer in [0, 65535]")]
    public void Ill_typed_or_out_of_range_values_name_key_value_and_allowed(string set, string message)
    {
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, [set]));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void Missing_config_file_names_the_path()
    {
        var path = Path.Combine(_dir, "nope.conf");
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(path, []));
        Assert.Contains(path, e.Message);
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void Set_without_equals_is_rejected()
    {
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, ["run.steps"]));
        Assert.Contains("key=value", e.Message);
    }

    [Fact]
    public void Section_given_a_scalar_is_rejected()
    {
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, ["rorecomp.buffer=3"]));
        Assert.Contains("rorecomp.buffer is a section", e.Message);
    }

    [Fact]
    public void Unterminated_quote_is_a_syntax_error_naming_file_and_line()
    {
        var file = WriteConfig("rorecomp { run { steps = \"3 } }");
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(file, []));
        Assert.Equal($"syntax error in {file} line 1: a quoted string is not closed", e.Message);
    }

    [Theory]
    [InlineData("rorecomp { run { steps = 3 \n sampling { temperature = ", 2, "a key has no value")]
    [InlineData("rorecomp { run { steps = 3 \n sampling { temperature = 0.5 }", 1, "the '{' opened here is never closed")]
    [InlineData("rorecomp {\n run { steps = 3 } }\n}", 3, "'}' closes nothing")]
    [InlineData("rorecomp {\n cluster.roles = [learner }\n}", 2, "'}' closes the '[' of line 2")]
    [InlineData("rorecomp {\n run.steps = \n}", 2, "a key has no value")]
    [InlineData("rorecomp {\n run.steps: ,\n}", 2, "a key has no value")]
    public void Unbalanced_braces_and_keys_without_value_are_syntax_errors(string text, int line, string what)
    {
        var file = WriteConfig(text);
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(file, []));
        Assert.Equal($"syntax error in {file} line {line}: {what}", e.Message);
    }

    [Fact]
    public void Strings_and_comments_do_not_count_as_structure()
    {
        var file = WriteConfig("""
            # a comment with { and =
            rorecomp {
              run.run-dir = "/tmp/a { b ]" // trailing } comment
              cluster.roles = [learner, "sampler"]
              cluster.seed-nodes = ["akka.tcp://rorecomp@host:1"]
              run.steps: 4
            }
            """);
        var s = SettingsLoader.Load(file, []);
        Assert.Equal(4, s.Run.Steps);
        Assert.Equal("/tmp/a { b ]", s.Run.RunDir);
    }
}
