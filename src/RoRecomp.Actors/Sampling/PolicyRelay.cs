using System.Net;
using System.Security.Cryptography.X509Certificates;
using RoRecomp.Actors.Protocols;
using RoRecomp.Settings;
using RoRecomp.Weights;

namespace RoRecomp.Actors.Sampling;

/// <summary>
/// A remote sampler's side of policy fetches: with <c>rorecomp.cluster.weights-relay-fanout</c> &gt; 0 it runs a relay
/// <see cref="WeightServer"/> on <c>rorecomp.cluster.hostname</c> at an ephemeral port, named in every
/// <see cref="FetchPolicy"/>, which serves the version being fetched to the samplers placed below this one (each chunk
/// once verified) and keeps the newest fetched blob to serve. Fetches try the relay peers <see cref="PolicyAvailable"/>
/// names, then the learner, every chunk checked against the learner's digest whoever sends it.
/// <para>
/// Every request, to the learner or to a relay, carries the run's credential from <see cref="PolicyAvailable.Credential"/>;
/// the relay server adopts that credential too (until then it has a random one and refuses everybody), so it serves
/// exactly the members the learner serves. With remoting's TLS on, the relay server and every fetch speak TLS with
/// remoting's certificate, as the learner's server does.
/// </para>
/// </summary>
internal sealed class PolicyRelay : IDisposable
{
    /// <summary>How long the relay holds a child's request for a version it has not started fetching yet.</summary>
    private static readonly TimeSpan AwaitVersion = TimeSpan.FromSeconds(5);

    private readonly string _host;
    private readonly WeightServer? _server;
    private readonly X509Certificate2? _certificate;

    /// <summary>
    /// Starts the relay server when <paramref name="relay"/>; <paramref name="certificate"/> (remoting's, null = plain TCP)
    /// secures the relay server and every fetch; <paramref name="log"/> gets the relay server's lines about refused requests.
    /// </summary>
    public PolicyRelay(ClusterSettings cluster, bool relay, X509Certificate2? certificate = null, Action<string>? log = null)
    {
        _host = cluster.Hostname;
        _certificate = certificate;
        if (relay)
        {
            _server = new WeightServer(new WeightServerOptions
            {
                Host = cluster.Hostname,
                Port = 0,
                KeepVersions = 1,
                AwaitVersion = AwaitVersion,
                Certificate = certificate,
                Log = log,
            });
        }
    }

    /// <summary>The request for at least <paramref name="minVersion"/>, naming the relay server if there is one.</summary>
    public FetchPolicy Request(long minVersion) => _server is null ? new FetchPolicy(minVersion) : new FetchPolicy(minVersion, _host, _server.Port);

    /// <summary>Fetches the offered version from its relay peers, then the learner; the blob is relayed while it arrives.</summary>
    public Task<WeightBlob> FetchAsync(PolicyAvailable offer)
    {
        var sources = offer.Relays.Select(Parse).Append(new DnsEndPoint(offer.Host, offer.Port)).ToList();
        var credential = Convert.FromHexString(offer.Credential);
        if (credential.Length > 0) _server?.RequireCredential(credential);
        var client = new WeightClient(new WeightClientOptions { Credential = credential, Certificate = _certificate });
        return client.FetchAsync(sources, offer.Version, offer.Digest, _server);
    }

    /// <inheritdoc />
    public void Dispose() => _server?.Dispose();

    private static EndPoint Parse(string hostPort)
    {
        var colon = hostPort.LastIndexOf(':');
        return colon > 0 && int.TryParse(hostPort.AsSpan(colon + 1), out var port)
            ? new DnsEndPoint(hostPort[..colon], port)
            : throw new FormatException($"relay endpoint '{hostPort}' is not host:port");
    }
}
