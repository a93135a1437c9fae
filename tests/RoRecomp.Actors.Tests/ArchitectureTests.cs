using System.Reflection;
using RoRecomp.Actors.Protocols;

namespace RoRecomp.Actors.Tests;

/// <summary>
/// The layers of README's Layout section, checked on the compiled assemblies: who may call whom
/// (Core &lt;- Model, Tasks &lt;- Settings &lt;- Training &lt;- Actors &lt;- Cli; Weights &lt;- Actors), and no Akka below Actors
/// but Akka's HOCON parser in Settings.
/// </summary>
public sealed class ArchitectureTests
{
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["RoRecomp.Core"] = [],
        ["RoRecomp.Model"] = ["RoRecomp.Core"],
        ["RoRecomp.Tasks"] = ["RoRecomp.Core"],
        ["RoRecomp.Weights"] = [],
        ["RoRecomp.Settings"] = ["RoRecomp.Core", "RoRecomp.Tasks"],
        ["RoRecomp.Training"] = ["RoRecomp.Core", "RoRecomp.Model", "RoRecomp.Tasks", "RoRecomp.Settings"],
        ["RoRecomp.Actors"] = ["RoRecomp.Core", "RoRecomp.Model", "RoRecomp.Tasks", "RoRecomp.Settings", "RoRecomp.Training", "RoRecomp.Weights"],
        ["rorecomp"] = ["RoRecomp.Core", "RoRecomp.Model", "RoRecomp.Tasks", "RoRecomp.Settings", "RoRecomp.Training", "RoRecomp.Weights", "RoRecomp.Actors"],
    };

    public static TheoryData<string> Assemblies() => [.. Allowed.Keys];

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void Each_layer_references_only_the_layers_below_it(string name)
    {
        var referenced = Assembly.Load(name).GetReferencedAssemblies().Select(a => a.Name!).ToList();
        var ours = referenced.Where(r => r.StartsWith("RoRecomp.", StringComparison.Ordinal) || r == "rorecomp").ToList();
        Assert.All(ours, r => Assert.Contains(r, Allowed[name]));
        var akka = referenced.Where(r => r.StartsWith("Akka", StringComparison.Ordinal)).ToList();
        if (name is "RoRecomp.Actors" or "rorecomp") return;
        // Settings parses HOCON with Akka's parser (the Akka assembly); it starts no actor system.
        Assert.Equal(name == "RoRecomp.Settings" ? ["Akka"] : [], akka);
    }

    [Fact]
    public void Protocol_messages_carry_only_protocol_core_and_training_payloads()
    {
        var messages = typeof(IRoRecompMessage).Assembly.GetTypes()
            .Where(t => t.Namespace == typeof(IRoRecompMessage).Namespace && !t.IsInterface).ToList();
        Assert.NotEmpty(messages);
        foreach (var type in messages)
        {
            foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                var ns = (Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType).Namespace ?? "";
                var inner = p.PropertyType.IsGenericType ? p.PropertyType.GetGenericArguments().Select(a => a.Namespace ?? "") : [];
                foreach (var n in inner.Prepend(ns))
                {
                    Assert.False(n.StartsWith("RoRecomp.Actors", StringComparison.Ordinal) && n != typeof(IRoRecompMessage).Namespace,
                        $"{type.Name}.{p.Name} is a {p.PropertyType} from {n}: a message carries protocol, Core or Training records only");
                    Assert.False(n.StartsWith("Akka", StringComparison.Ordinal), $"{type.Name}.{p.Name} carries an Akka type ({p.PropertyType})");
                }
            }
        }
    }
}
