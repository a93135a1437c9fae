using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using RoRecomp.Actors.Protocols;
using RoRecomp.Settings;
using RoRecomp.Weights;

namespace RoRecomp.Actors.Learning;

/// <summary>
/// The policy publisher: holds the newest weights the learner published and hands them to whoever asks for a version
/// at least that new. A requester in this process gets the bytes in a <see cref="PolicySnapshot"/>; a remote one gets
/// <see cref="PolicyAvailable"/> and fetches them from the weight server (started on first use, on
/// <c>rorecomp.cluster.hostname:weights-port</c>) with the server's credential, which the server asks of every request:
/// only cluster members learn it. With TLS for Akka.Remote the server speaks TLS with the same certificate. Requests for
/// a version not yet published wait for it.
/// <para>
/// Relaying (<c>rorecomp.cluster.weights-relay-fanout</c> &gt; 0): the remote fetchers of a version that name a relay
/// server are placed in a <see cref="RelayTree"/> in the order they ask; each is told its parent and grandparent, so the
/// learner uploads about one copy per version. The relays' servers require the same credential (each sampler's adopts
/// the one in <see cref="PolicyAvailable"/>). A fetcher asking again for the same version (its fetch failed) is sent
/// straight to the learner. On each new version the publisher publishes <see cref="PolicyUploaded"/> for the last one.
/// </para>
/// </summary>
public sealed class PolicyPublisherActor : ReceiveActor
{
    private readonly ClusterSettings _cluster;
    private readonly List<(IActorRef Requester, FetchPolicy Request)> _waiting = [];
    private readonly List<string> _relays = []; // the relay endpoints of the served version's fetchers, in the order they asked
    private PublishPolicy? _latest;
    private WeightServer? _server;
    private PublishedWeights? _served;
    private long _uploadedBefore; // the server's BlobBytesSent when _served was published
    private int _remoteFetchers;
    private int _relayedFetchers;
    private bool _reported;

    /// <summary>Creates the publisher; use <see cref="Props"/>.</summary>
    public PolicyPublisherActor(ClusterSettings cluster)
    {
        _cluster = cluster;
        Receive<PublishPolicy>(m =>
        {
            ReportUploads();
            _latest = m;
            for (var i = _waiting.Count - 1; i >= 0; i--)
            {
                if (_waiting[i].Request.MinVersion > m.Version) continue;
                Serve(_waiting[i].Requester, _waiting[i].Request, m);
                _waiting.RemoveAt(i);
            }
        });
        Receive<FetchPolicy>(m =>
        {
            if (_latest is null || m.MinVersion > _latest.Version) _waiting.Add((Sender, m));
            else Serve(Sender, m, _latest);
        });
    }

    /// <summary>Props of the publisher (weight server on <paramref name="cluster"/>'s hostname and weights port).</summary>
    public static Props Props(ClusterSettings cluster) => Akka.Actor.Props.Create(() => new PolicyPublisherActor(cluster));

    /// <inheritdoc />
    protected override void PostStop() => _server?.Dispose();

    private void Serve(IActorRef requester, FetchPolicy request, PublishPolicy policy)
    {
        if (requester.Path.Address.HasLocalScope)
        {
            requester.Tell(new PolicySnapshot(policy.Version, policy.Weights, policy.ModelConfigJson));
            return;
        }
        if (_server is null)
        {
            var log = Context.GetLogger();
            _server = new WeightServer(new WeightServerOptions
            {
                Host = _cluster.Hostname,
                Port = _cluster.WeightsPort,
                Log = line => log.Warning(line),
                Certificate = Hosting.RemoteCertificate.Load(Context.System.Settings.Config),   // TLS when remoting has it
            });
        }
        if (_served is null || _served.Version != policy.Version) Publish(policy);
        var relays = RelaysFor(request);
        _remoteFetchers++;
        if (relays.Length > 0) _relayedFetchers++;
        requester.Tell(new PolicyAvailable(_served!.Version, _cluster.Hostname, _server.Port, _served.Digest, _served.Length, policy.ModelConfigJson, relays,
            Convert.ToHexString(_server.Credential.Span)));
    }

    private void Publish(PublishPolicy policy)
    {
        ReportUploads();
        _uploadedBefore = _server!.BlobBytesSent;
        _served = _server.Publish(policy.Version, policy.Weights);
        _relays.Clear();
        _remoteFetchers = _relayedFetchers = 0;
        _reported = false;
    }

    /// <summary>Once per served version, when a newer one arrives: what the learner uploaded for it.</summary>
    private void ReportUploads()
    {
        if (_served is null || _reported) return;
        _reported = true;
        Context.System.EventStream.Publish(
            new PolicyUploaded(_served.Version, _served.Length, _server!.BlobBytesSent - _uploadedBefore, _remoteFetchers, _relayedFetchers));
    }

    /// <summary>The relay peers the requester should fetch from before the learner, nearest first (none: straight from the learner).</summary>
    private ImmutableArray<string> RelaysFor(FetchPolicy request)
    {
        if (_cluster.WeightsRelayFanout == 0 || request.RelayHost is not { } host || request.RelayPort == 0) return [];
        var endpoint = $"{host}:{request.RelayPort}";
        if (_relays.Contains(endpoint)) return []; // asking again: its fetch failed, so the learner serves it
        _relays.Add(endpoint);
        return [.. RelayTree.Sources(_relays.Count - 1, _cluster.WeightsRelayFanout).Select(k => _relays[k])];
    }
}
