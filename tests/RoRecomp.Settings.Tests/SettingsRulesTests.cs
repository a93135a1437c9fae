using RoRecomp.Core.Advantages;
using RoRecomp.Core.Recomposition;
using RoRecomp.Core.Replay;
using RoRecomp.Core.Schedules;
using RoRecomp.Core.Training;
using RoRecomp.Tasks;

namespace RoRecomp.Settings.Tests;

/// <summary>Every rule is checked once, at load, and an error names the key, the value and where it came from.</summary>
public sealed class SettingsRulesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-rules-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static SettingsException Refused(SettingsOverrides o) => Assert.Throws<SettingsException>(() => SettingsLoader.Load(o));

    [Fact]
    public void A_range_rule_names_key_value_and_the_file_even_under_a_resumed_runs_layers()
    {
        // algorithm.eps = 0 used to load and only fail in the recomposer's constructor inside an actor.
        var runConf = Write("run.conf", "rorecomp.algorithm.eps = 0");
        var e = Refused(new SettingsOverrides { BaseFile = runConf });
        Assert.Equal($"rorecomp.algorithm.eps = '0' in {runConf}: expected a number > 0", e.Message);
    }

    [Fact]
    public void The_topmost_layer_is_named_as_the_source()
    {
        var file = Write("exp.conf", "rorecomp.buffer.capacity = 5");
        var e = Refused(new SettingsOverrides(file, ["buffer.capacity=0"]));
        Assert.Equal("rorecomp.buffer.capacity = '0' in --set buffer.capacity=0: expected an integer >= 1", e.Message);
        var fromFile = Refused(new SettingsOverrides(Write("bad.conf", "rorecomp.compensation.weight-end = -1")));
        Assert.Contains("rorecomp.compensation.weight-end = '-1' in ", fromFile.Message);
        Assert.Contains("bad.conf: expected a number >= 0", fromFile.Message);
    }

    [Fact]
    public void A_typed_flag_is_checked_by_its_keys_rule_and_named_as_the_source()
    {
        Assert.Equal("rorecomp.run.steps = '-1' in --steps: expected an integer >= 0", Refused(new SettingsOverrides { Steps = -1 }).Message);
        Assert.Equal("rorecomp.cluster.port = '70000' in --port: expected an integer in [0, 65535]", Refused(new SettingsOverrides { Port = 70000 }).Message);
        Assert.Contains("unknown role 'coordinator' in --roles", Refused(new SettingsOverrides { Roles = ["coordinator"] }).Message);
        Assert.Equal("rorecomp.run.run-dir = '' in --run-dir: expected a non-empty string", Refused(new SettingsOverrides { RunDir = "" }).Message);
    }

    [Fact]
    public void Typed_flags_win_over_set_and_file()
    {
        var file = Write("exp.conf", "rorecomp.run { steps = 3, run-dir = \"/tmp/a\" }");
        var s = SettingsLoader.Load(new SettingsOverrides(file, ["run.steps=4"]) { Steps = 5, RunDir = "/tmp/b", Hostname = "10.0.0.2", Port = 4053 });
        Assert.Equal(5, s.Run.Steps);
        Assert.Equal("/tmp/b", s.Run.RunDir);
        Assert.Equal("10.0.0.2", s.Cluster.Hostname);
        Assert.Equal(4053, s.Cluster.Port);
    }

    [Fact]
    public void Advantage_estimators_are_the_registrys()
    {
        foreach (var name in AdvantageEstimators.Names)
            Assert.Equal(name, SettingsLoader.Load(null, [$"algorithm.advantage-estimator={name}"]).Algorithm.AdvantageEstimator);
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, ["algorithm.advantage-estimator=ppo"]));
        Assert.Equal(
            $"rorecomp.algorithm.advantage-estimator = 'ppo' in --set algorithm.advantage-estimator=ppo: expected one of {string.Join(" | ", AdvantageEstimators.Names)}",
            e.Message);
    }

    [Fact]
    public void Loss_aggregation_modes_are_the_policy_losss()
    {
        foreach (var name in LossAggregationModes.Names)
            Assert.Equal(name, SettingsLoader.Load(null, [$"policy-loss.loss-agg-mode={name}"]).PolicyLoss.LossAggMode);
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, ["policy-loss.loss-agg-mode=sum"]));
        Assert.EndsWith($"expected one of {string.Join(" | ", LossAggregationModes.Names)}", e.Message);
    }

    [Fact]
    public void Tasks_are_the_task_registrys()
    {
        string[] jsonl = ["model.source=hf", "model.path=/models/qwen", "task.train-path=/data/train.jsonl"];
        foreach (var name in TaskRegistry.Names)
            Assert.Equal(name, SettingsLoader.Load(new SettingsOverrides(null, name == "jsonl" ? jsonl : null) { Task = name }).Run.Task);
        Assert.Equal($"rorecomp.run.task = 'chess' in --task: expected one of {string.Join(" | ", TaskRegistry.Names)}",
            Refused(new SettingsOverrides { Task = "chess" }).Message);
    }

    [Fact]
    public void A_jsonl_run_needs_its_dataset_and_a_hugging_face_model()
    {
        Assert.Equal("rorecomp.task.train-path = '' in reference.conf: expected a JSONL file of training problems with rorecomp.run.task = jsonl (--task)",
            Refused(new SettingsOverrides(null, ["model.source=hf", "model.path=/m"]) { Task = "jsonl" }).Message);
        Assert.StartsWith("rorecomp.model.source = 'tiny' in reference.conf: expected hf with rorecomp.run.task = jsonl",
            Refused(new SettingsOverrides(null, ["task.train-path=/d.jsonl"]) { Task = "jsonl" }).Message);
        Assert.StartsWith("rorecomp.model.path = '' in reference.conf: expected a Hugging Face model directory",
            Refused(new SettingsOverrides(null, ["model.source=hf"])).Message);
        Assert.StartsWith("rorecomp.task.prompt-template = 'Q: x' in --set task.prompt-template=Q: x: expected a text with a {question} placeholder",
            Refused(new SettingsOverrides(null, ["task.prompt-template=Q: x"])).Message);
    }

    [Theory]
    [InlineData("auto")]
    [InlineData("cpu")]
    [InlineData("cuda")]
    [InlineData("cuda:1")]
    public void Devices_are_auto_cpu_cuda_or_cuda_with_an_index(string device) =>
        Assert.Equal(device, SettingsLoader.Load(null, [$"model.device={device}"]).Model.Device);

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:")]
    [InlineData("cuda:x")]
    [InlineData("CUDA")]
    public void Other_devices_are_refused_with_the_forms_allowed(string device) =>
        Assert.EndsWith("expected auto | cpu | cuda | cuda:N", Refused(new SettingsOverrides(null, [$"model.device={device}"])).Message);

    [Fact]
    public void Enum_valued_keys_accept_every_member_of_the_enum_core_dispatches_on()
    {
        foreach (var v in Enum.GetValues<WeightSchedule>())
            Assert.Equal(v, SettingsMapping.Compensation(SettingsLoader.Load(null, [$"compensation.weight-schedule={SettingNames.Name(v)}"])).Schedule);
        foreach (var v in Enum.GetValues<DrawOrder>())
            Assert.Equal(v, SettingsMapping.ReplayBuffer(SettingsLoader.Load(null, [$"compensation.draw-order={SettingNames.Name(v)}"])).DrawOrder);
        foreach (var v in Enum.GetValues<LengthKey>())
            Assert.Equal(v, SettingsMapping.Recomposition(SettingsLoader.Load(null, [$"recomposition.length-key={SettingNames.Name(v)}"])).LengthKey);
        Assert.Equal("tool-calls-then-tokens", SettingNames.Name(LengthKey.ToolCallsThenTokens));
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, ["compensation.weight-schedule=step"]));
        Assert.EndsWith($"expected one of {string.Join(" | ", SettingNames.Of<WeightSchedule>())}", e.Message);
    }

    [Fact]
    public void Rules_that_tie_keys_together_name_both()
    {
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, ["persistence.provider=postgresql"]));
        Assert.StartsWith("rorecomp.persistence.connection-string = '' in reference.conf: expected a connection string with rorecomp.persistence.provider = postgresql (--set persistence.provider=postgresql)", e.Message);
    }

    [Fact]
    public void Seed_node_addresses_are_checked_wherever_they_come_from()
    {
        Assert.Contains("rorecomp.cluster.seed-nodes has 'http://x:1' in --seed", Refused(new SettingsOverrides { SeedNodes = ["http://x:1"] }).Message);
        var ok = SettingsLoader.Load(new SettingsOverrides { SeedNodes = ["akka.tcp://rorecomp@10.0.0.1:4053"] });
        Assert.Equal(["akka.tcp://rorecomp@10.0.0.1:4053"], ok.Cluster.SeedNodes.ToArray());
    }

    [Fact]
    public void Rendered_layers_load_back_to_the_same_settings_without_the_cluster_flags()
    {
        var file = Write("exp.conf", "rorecomp.recomposition.scope = group");
        var o = new SettingsOverrides(file, ["run.eval-every=2", "cluster.weights-port=9"])
        {
            RunDir = "/tmp/x \"y\"",
            Steps = 7,
            Seed = 3,
            Checkpoint = "/w/sft",
            Hostname = "10.0.0.3",
            Port = 4053,
            Roles = ["learner"],
        };
        var runConf = Write("run.conf", SettingsLoader.RenderLayers(o));
        var resumed = SettingsLoader.Load(new SettingsOverrides { BaseFile = runConf });
        var original = SettingsLoader.Load(o);
        Assert.Equal(original with { Cluster = resumed.Cluster }, resumed);
        Assert.Equal("127.0.0.1", resumed.Cluster.Hostname);
        Assert.Equal(0, resumed.Cluster.WeightsPort);
    }
}
