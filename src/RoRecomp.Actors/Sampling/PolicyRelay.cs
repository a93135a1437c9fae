using System.Net;
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
/// </summary>
internal sealed class PolicyRelay : IDisposable
{
    /// <summary>How long the relay holds a child's request for a version it has not started fetching yet.</summary>
    private static readonly TimeSpan AwaitVersion = TimeSpan.FromSeconds(5);

    private readonly string _host;
    private readonly WeightServer? _server;
    private readonly WeightClient _client = new();

    /// <summary>Starts the relay server when <paramref name="relay"/>.</summary>
    public PolicyRelay(ClusterSettings cluster, bool relay)
    {
        _host = cluster.Hostname;
        if (relay) _server = new WeightServer(new WeightServerOptions { Host = cluster.Hostname, Port = 0, KeepVersions = 1, AwaitVersion = AwaitVersion });
    }

    /// <summary>The request for at least <paramref name="minVersion"/>, naming the relay server if there is one.</summary>
    public FetchPolicy Request(long minVersion) => _server is null ? new FetchPolicy(minVersion) : new FetchPolicy(minVersion, _host, _server.Port);

    /// <summary>Fetches the offered version from its relay peers, then the learner; the blob is relayed while it arrives.</summary>
    public Task<WeightBlob> FetchAsync(PolicyAvailable offer)
    {
        var sources = offer.Relays.Select(Parse).Append(new DnsEndPoint(offer.Host, offer.Port)).ToList();
        return _client.FetchAsync(sources, offer.Version, offer.Digest, _server);
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
