using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using RoRecomp.Actors.Learning;
using RoRecomp.Actors.Protocols;
using RoRecomp.Actors.Sampling;
using RoRecomp.Actors.Serialization;
using RoRecomp.Settings;

namespace RoRecomp.Actors.Tests.Sampling;

/// <summary>
/// The policy publisher and the samplers' fetch path (<see cref="PolicyRelay"/>, what <see cref="SamplerActor"/> uses)
/// across Akka.Remote: a learner system and a sampler system on 127.0.0.1, the weights over the weight servers.
/// </summary>
public sealed class PolicyRelayTests : TestKit
{
    private static readonly Config Remote = ConfigurationFactory.ParseString("""
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
        akka.loglevel = WARNING
        """).WithFallback(SerializationHocon.Config);

    private readonly ActorSystem _samplers = ActorSystem.Create("samplers", Remote);

    public PolicyRelayTests()
        : base(Remote, "learner")
    {
    }

    private static ClusterSettings Cluster(int fanOut, string role) => new([role], "127.0.0.1", 0, [], 10, 0, fanOut);

    [Theory]
    [InlineData(1, 3)] // a chain
    [InlineData(2, 4)]
    public async Task Samplers_get_the_weights_through_relays_and_the_learner_uploads_one_copy(int fanOut, int samplers)
    {
        var publisher = Sys.ActorOf(PolicyPublisherActor.Props(Cluster(fanOut, "learner")), "publisher");
        var uploads = CreateTestProbe();
        Sys.EventStream.Subscribe(uploads.Ref, typeof(PolicyUploaded));
        var blob = new byte[48 * 1024 * 1024 + 5]; // 13 chunks of 4 MiB, the last short
        new Random(3).NextBytes(blob);
        publisher.Tell(new PublishPolicy(1, blob, "{}"));
        var remotePublisher = await _samplers.ActorSelection(publisher.Path.ToStringWithAddress(((ExtendedActorSystem)Sys).Provider.DefaultAddress))
            .ResolveOne(TimeSpan.FromSeconds(10));

        var relays = Enumerable.Range(0, samplers).Select(_ => new PolicyRelay(Cluster(fanOut, "sampler"), relay: true)).ToList();
        try
        {
            var offers = new List<PolicyAvailable>();
            foreach (var relay in relays)
            {
                var probe = CreateTestProbe(_samplers);
                probe.Send(remotePublisher, relay.Request(1));
                offers.Add(probe.ExpectMsg<PolicyAvailable>(TimeSpan.FromSeconds(30)));
            }
            var endpoints = relays.Select(r => r.Request(1)).Select(r => $"{r.RelayHost}:{r.RelayPort}").ToList();
            Assert.Empty(offers[0].Relays);
            Assert.All(offers, o => Assert.Equal(64, o.Credential.Length)); // the run's 32-byte credential, which the relays adopt
            Assert.Equal<IEnumerable<string>>([endpoints[0]], offers[1].Relays);
            Assert.Equal<IEnumerable<string>>([.. Weights.RelayTree.Sources(samplers - 1, fanOut).Select(k => endpoints[k])], offers[^1].Relays);

            var fetched = await Task.WhenAll(relays.Select((r, i) => r.FetchAsync(offers[i]))).WaitAsync(TimeSpan.FromSeconds(60));

            Assert.All(fetched, f => Assert.Equal(blob, f.Bytes));
            Assert.All(fetched.Skip(1), (f, i) => Assert.Equal(offers[i + 1].Relays[0], f.Source)); // each from its relay parent
            publisher.Tell(new PublishPolicy(2, [1, 2, 3], "{}"));
            var uploaded = uploads.ExpectMsg<PolicyUploaded>(TimeSpan.FromSeconds(10));
            Assert.Equal(1, uploaded.Version);
            Assert.Equal(samplers, uploaded.RemoteFetchers);
            Assert.Equal(samplers - 1, uploaded.RelayedFetchers);
            Assert.Equal(blob.Length, uploaded.LearnerBytes); // one copy from the learner, fewer than the samplers
            Assert.True(uploaded.LearnerBytes < (long)samplers * blob.Length);
        }
        finally
        {
            foreach (var relay in relays) relay.Dispose();
        }
    }

    [Fact]
    public async Task Without_relays_every_sampler_fetches_from_the_learner()
    {
        var publisher = Sys.ActorOf(PolicyPublisherActor.Props(Cluster(0, "learner")), "publisher");
        var uploads = CreateTestProbe();
        Sys.EventStream.Subscribe(uploads.Ref, typeof(PolicyUploaded));
        var blob = new byte[5 * 1024 * 1024];
        new Random(4).NextBytes(blob);
        publisher.Tell(new PublishPolicy(1, blob, "{}"));
        var remotePublisher = await _samplers.ActorSelection(publisher.Path.ToStringWithAddress(((ExtendedActorSystem)Sys).Provider.DefaultAddress))
            .ResolveOne(TimeSpan.FromSeconds(10));
        using var a = new PolicyRelay(Cluster(0, "sampler"), relay: false);
        using var b = new PolicyRelay(Cluster(0, "sampler"), relay: false);

        foreach (var relay in new[] { a, b })
        {
            var probe = CreateTestProbe(_samplers);
            probe.Send(remotePublisher, relay.Request(1));
            var offer = probe.ExpectMsg<PolicyAvailable>(TimeSpan.FromSeconds(30));
            Assert.Empty(offer.Relays);
            Assert.Equal(blob, (await relay.FetchAsync(offer)).Bytes);
        }
        publisher.Tell(new PublishPolicy(2, [1], "{}"));
        Assert.Equal(2L * blob.Length, uploads.ExpectMsg<PolicyUploaded>(TimeSpan.FromSeconds(10)).LearnerBytes);
    }

    protected override void AfterAll()
    {
        _samplers.Terminate().Wait(TimeSpan.FromSeconds(10));
        base.AfterAll();
    }
}
