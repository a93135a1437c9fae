using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.TestKit.Xunit2;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.Serialization;
using RoRecomp.Core.Rollouts;

namespace RoRecomp.Actors.Tests.Serialization;

/// <summary>
/// A rollout group larger than Akka.Remote's frame between two actor systems on 127.0.0.1: it fails in the sender with
/// an error naming the setting while the association stays up, and travels intact once the setting allows it.
/// </summary>
public sealed class LargeMessageRemoteTests : TestKit
{
    private const long FourMiB = 4L * 1024 * 1024;

    public LargeMessageRemoteTests()
        : base(Remote(FourMiB))
    {
    }

    private static Config Remote(long frameBytes) => ConfigurationFactory.ParseString($$"""
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp {
          hostname = 127.0.0.1
          port = 0
          maximum-frame-size = {{frameBytes}}b
          send-buffer-size = 8388608b
          receive-buffer-size = 8388608b
        }
        akka.loglevel = INFO
        akka.test.single-expect-default = 30s
        """).WithFallback(SerializationHocon.Config);

    /// <summary>Answers a <see cref="VerifyRollouts"/> with its token count (as a <see cref="RunFailed"/> reason: any small protocol message does).</summary>
    private sealed class Counter : ReceiveActor
    {
        public Counter() => Receive<VerifyRollouts>(m => Sender.Tell(new RunFailed($"{m.Groups.Sum(g => g.Responses.Sum(r => r.Tokens.Length + r.LogProbs.Length))}")));
    }

    // 16 responses of `tokens` tokens: token ids and log-probs at 8 bytes per token.
    private static VerifyRollouts Group(int tokens, string lease = "lease-1")
    {
        var rng = new Random(3);
        var responses = Enumerable.Range(0, 16).Select(i => new Response(
            Id: $"{lease}/{i}", PromptId: "train-000001", SampleIndex: i, Step: 1, PolicyVersion: 1,
            PromptTokens: [.. Enumerable.Range(0, 512)],
            Tokens: [.. Enumerable.Range(0, tokens).Select(_ => rng.Next(150_000))],
            LogProbs: [.. Enumerable.Range(0, tokens).Select(_ => -(float)rng.NextDouble())],
            Reward: 0, Correct: false)).ToImmutableArray();
        return new VerifyRollouts(lease, 1, [new RolloutGroup("train-000001", 1, responses)]);
    }

    private IActorRef RemoteCounter(ActorSystem receiver)
    {
        receiver.ActorOf(Props.Create(() => new Counter()), "counter");
        var address = ((ExtendedActorSystem)receiver).Provider.DefaultAddress;
        return Sys.ActorSelection(new RootActorPath(address) / "user" / "counter").ResolveOne(TimeSpan.FromSeconds(30)).Result;
    }

    [Fact]
    public async Task A_group_over_the_frame_size_fails_in_the_sender_naming_the_setting_and_the_link_stays_up()
    {
        var receiver = ActorSystem.Create("receiver", Remote(FourMiB));
        try
        {
            var counter = RemoteCounter(receiver);
            var errors = CreateTestProbe();
            Sys.EventStream.Subscribe(errors.Ref, typeof(Error));
            var big = Group(40_000); // 16 x 40,000 tokens x 8 bytes = 5.1 MB > 4 MiB
            counter.Tell(big, TestActor);
            var error = errors.FishForMessage<Error>(e => $"{e.Message} {e.Cause}".Contains(RoRecompSerializer.FrameSizeKey), TimeSpan.FromSeconds(30));
            var text = $"{error.Message} {error.Cause}";
            Assert.Contains(nameof(VerifyRollouts), text);
            Assert.Contains("4,194,304", text);
            ExpectNoMsg(TimeSpan.FromSeconds(1)); // not delivered

            // The association is still up: a group within the limit goes through right after, no reconnection needed.
            var fits = Group(16_384, "lease-2"); // the 16 x 16k tokens: 2.1 MB
            counter.Tell(fits, TestActor);
            Assert.Equal($"{16 * 16_384 * 2}", ExpectMsg<RunFailed>().Reason);
            Sys.EventStream.Unsubscribe(errors.Ref);
        }
        finally
        {
            await receiver.Terminate();
        }
    }

    [Fact]
    public async Task With_the_frame_size_raised_on_both_nodes_a_group_larger_than_4_MiB_travels_intact()
    {
        var sender = ActorSystem.Create("sender", Remote(16L * 1024 * 1024));
        var receiver = ActorSystem.Create("receiver", Remote(16L * 1024 * 1024));
        try
        {
            receiver.ActorOf(Props.Create(() => new Echo()), "echo");
            var address = ((ExtendedActorSystem)receiver).Provider.DefaultAddress;
            var remote = await sender.ActorSelection(new RootActorPath(address) / "user" / "echo").ResolveOne(TimeSpan.FromSeconds(30));
            var big = Group(40_000);
            var back = await remote.Ask<VerifyRollouts>(big, TimeSpan.FromSeconds(60));
            var sent = big.Groups[0].Responses;
            var got = back.Groups[0].Responses;
            Assert.Equal(sent.Length, got.Length);
            for (var i = 0; i < sent.Length; i++)
            {
                Assert.True(sent[i].Tokens.AsSpan().SequenceEqual(got[i].Tokens.AsSpan()), $"tokens of response {i} differ");
                Assert.True(sent[i].LogProbs.AsSpan().SequenceEqual(got[i].LogProbs.AsSpan()), $"log-probs of response {i} differ");
            }
        }
        finally
        {
            await Task.WhenAll(sender.Terminate(), receiver.Terminate());
        }
    }

    private sealed class Echo : ReceiveActor
    {
        public Echo() => Receive<VerifyRollouts>(m => Sender.Tell(m));
    }
}
