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
/// only cluster members learn it. With TLS for Akka.Remote the server speaks TLS with the same certificate. Requests for a version not yet published wait for it.
/// </summary>
public sealed class PolicyPublisherActor : ReceiveActor
{
    private readonly ClusterSettings _cluster;
    private readonly List<(IActorRef Requester, long MinVersion)> _waiting = [];
    private PublishPolicy? _latest;
    private WeightServer? _server;

    /// <summary>Creates the publisher; use <see cref="Props"/>.</summary>
    public PolicyPublisherActor(ClusterSettings cluster)
    {
        _cluster = cluster;
        Receive<PublishPolicy>(m =>
        {
            _latest = m;
            for (var i = _waiting.Count - 1; i >= 0; i--)
            {
                if (_waiting[i].MinVersion > m.Version) continue;
                Serve(_waiting[i].Requester, m);
                _waiting.RemoveAt(i);
            }
        });
        Receive<FetchPolicy>(m =>
        {
            if (_latest is null || m.MinVersion > _latest.Version) _waiting.Add((Sender, m.MinVersion));
            else Serve(Sender, _latest);
        });
    }

    /// <summary>Props of the publisher (weight server on <paramref name="cluster"/>'s hostname and weights port).</summary>
    public static Props Props(ClusterSettings cluster) => Akka.Actor.Props.Create(() => new PolicyPublisherActor(cluster));

    /// <inheritdoc />
    protected override void PostStop() => _server?.Dispose();

    private void Serve(IActorRef requester, PublishPolicy policy)
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
        if (_server.Latest is not { } latest || latest.Version != policy.Version) latest = _server.Publish(policy.Version, policy.Weights);
        requester.Tell(new PolicyAvailable(latest.Version, _cluster.Hostname, _server.Port, latest.Sha256, latest.Length, policy.ModelConfigJson,
            Convert.ToHexString(_server.Credential.Span)));
    }
}
