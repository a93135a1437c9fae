using Akka.Actor;
using RoRecomp.Actors.Hosting;
using Node = RoRecomp.Actors.Hosting.LearnerDowningActor.UnreachableNode;

namespace RoRecomp.Actors.Tests.Hosting;

/// <summary>Who is downed: the learner node decides alone, and other nodes only ever down themselves.</summary>
public sealed class LearnerDowningActorTests
{
    private static readonly DateTime Now = new(2026, 12, 1, 20, 0, 0, DateTimeKind.Utc);
    private static readonly TimeSpan StableAfter = TimeSpan.FromSeconds(5);
    private static readonly Address Learner = Address("learner", 4053);
    private static readonly Address Sampler1 = Address("s1", 4054);
    private static readonly Address Sampler2 = Address("s2", 4055);
    private static readonly Address Verifier = Address("v", 4056);

    [Fact]
    public void The_learner_node_downs_every_member_unreachable_for_stable_after_and_never_itself()
    {
        // The chaos seed 7 pattern: the verifier killed, then two samplers that had seen it unreachable. Akka's
        // keep-oldest called them "indirectly connected" and downed every node; here the learner side stays.
        Node[] unreachable =
        [
            new(Verifier, false, false, Now.AddSeconds(-9)),
            new(Sampler1, false, false, Now.AddSeconds(-5)),
            new(Sampler2, false, false, Now.AddSeconds(-4.9)),   // not yet stable
            new(Learner, true, false, Now.AddSeconds(-60)),      // itself, as some other node observed it
        ];
        Assert.Equal([Verifier, Sampler1], LearnerDowningActor.ToDown(true, Learner, unreachable, Now, StableAfter).ToArray());
        // Already down: not downed again.
        Assert.Equal([Sampler1], LearnerDowningActor.ToDown(true, Learner, [unreachable[0] with { IsDown = true }, unreachable[1]], Now, StableAfter).ToArray());
        Assert.Empty(LearnerDowningActor.ToDown(true, Learner, [], Now, StableAfter).ToArray());
    }

    [Fact]
    public void Another_node_downs_only_itself_and_only_when_a_learner_stayed_unreachable()
    {
        Node[] samplersLost = [new(Verifier, false, false, Now.AddSeconds(-30)), new(Sampler2, false, false, Now.AddSeconds(-30))];
        Assert.Empty(LearnerDowningActor.ToDown(false, Sampler1, samplersLost, Now, StableAfter).ToArray());
        Assert.Empty(LearnerDowningActor.ToDown(false, Sampler1, [.. samplersLost, new(Learner, true, false, Now.AddSeconds(-4))], Now, StableAfter).ToArray());
        Assert.Equal([Sampler1], LearnerDowningActor.ToDown(false, Sampler1, [.. samplersLost, new(Learner, true, false, Now.AddSeconds(-5))], Now, StableAfter).ToArray());
    }

    private static Address Address(string host, int port) => new("akka.tcp", "rorecomp", host, port);
}
