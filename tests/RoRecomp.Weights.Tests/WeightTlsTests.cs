using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using RoRecomp.Weights;

namespace RoRecomp.Weights.Tests;

/// <summary>The weight stream over TLS with the cluster's certificate: members fetch, anyone else is refused in the handshake.</summary>
public sealed class WeightTlsTests
{
    private static readonly X509Certificate2 Cluster = SelfSigned("CN=rorecomp-cluster");

    /// <summary>A self-signed certificate with its private key, loaded back from PKCS#12 as a node loads its .pfx.</summary>
    private static X509Certificate2 SelfSigned(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        using var made = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(made.Export(X509ContentType.Pfx), null);
    }

    private static byte[] Blob(int length)
    {
        var blob = new byte[length];
        new Random(3).NextBytes(blob);
        return blob;
    }

    private static WeightClientOptions Options(WeightServer server, X509Certificate2? certificate) => new()
    {
        Credential = server.Credential,
        Certificate = certificate,
        MaxAttempts = 1,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        ReadTimeout = TimeSpan.FromSeconds(5),
    };

    [Fact]
    public async Task A_client_with_the_clusters_certificate_fetches_over_tls()
    {
        await using var server = new WeightServer(new WeightServerOptions { Certificate = Cluster, ChunkBytes = WeightServerOptions.MinChunkBytes });
        var blob = Blob(500_000);
        var published = server.Publish(1, blob);

        var fetched = await new WeightClient(Options(server, Cluster)).FetchAsync(server.EndPoint, 1);

        Assert.Equal(blob, fetched.Bytes);
        Assert.Equal(published.Digest, fetched.Digest);
        Assert.Equal(0, server.UnauthorizedRequests);
    }

    [Fact]
    public async Task A_client_without_the_certificate_is_refused_and_the_server_keeps_serving_members()
    {
        var log = new List<string>();
        await using var server = new WeightServer(new WeightServerOptions { Certificate = Cluster, Log = l => { lock (log) log.Add(l); } });
        server.Publish(1, Blob(10_000));

        // Plain TCP (it knows the credential, even): the server's handshake fails on its request, and it gets nothing.
        var plain = await Assert.ThrowsAsync<WeightTransferException>(() => new WeightClient(Options(server, null)).FetchAsync(server.EndPoint, 1));
        // TLS with a certificate of its own making: refused in the handshake.
        var stranger = await Assert.ThrowsAsync<WeightTransferException>(
            () => new WeightClient(Options(server, SelfSigned("CN=stranger"))).FetchAsync(server.EndPoint, 1));

        Assert.Equal(WeightTransferFailure.ConnectionLost, plain.Failure);
        Assert.Contains("closed the connection before answering", plain.Message);
        Assert.Equal(WeightTransferFailure.Unauthorized, stranger.Failure);
        Assert.Contains("TLS handshake failed", stranger.Message);
        // The client may see its failure before the server has counted its side of the handshake.
        for (var i = 0; i < 100 && server.UnauthorizedRequests < 2; i++) await Task.Delay(50);
        Assert.Equal(2, server.UnauthorizedRequests);
        lock (log) Assert.Contains(log, l => l.Contains("the TLS handshake failed", StringComparison.Ordinal));
        Assert.Equal(1, (await new WeightClient(Options(server, Cluster)).FetchAsync(server.EndPoint, 1)).Version);
    }

    [Fact]
    public async Task A_tls_client_does_not_fetch_from_a_server_without_the_certificate()
    {
        await using var server = new WeightServer(new WeightServerOptions { Certificate = SelfSigned("CN=impostor") });
        server.Publish(1, Blob(1000));

        var ex = await Assert.ThrowsAsync<WeightTransferException>(() => new WeightClient(Options(server, Cluster)).FetchAsync(server.EndPoint, 1));

        Assert.Equal(WeightTransferFailure.Unauthorized, ex.Failure);
    }

    [Fact]
    public async Task A_relay_serves_over_tls_with_the_run_credential_and_refuses_plain_clients()
    {
        var run = RandomNumberGenerator.GetBytes(32);
        WeightServerOptions Tls(TimeSpan await) => new()
        {
            Certificate = Cluster,
            Credential = run,
            ChunkBytes = WeightServerOptions.MinChunkBytes,
            AwaitVersion = await,
        };
        await using var learner = new WeightServer(Tls(TimeSpan.Zero));
        await using var relay = new WeightServer(Tls(TimeSpan.FromSeconds(5)));
        var blob = Blob(6 * WeightServerOptions.MinChunkBytes);
        var published = learner.Publish(1, blob);
        var member = new WeightClient(Options(learner, Cluster));

        await member.FetchAsync([learner.EndPoint], 1, published.Digest, relay);
        var child = await member.FetchAsync([relay.EndPoint, learner.EndPoint], 1, published.Digest, relay: null);
        var plain = await Assert.ThrowsAsync<WeightTransferException>(() => new WeightClient(Options(relay, null)).FetchAsync(relay.EndPoint, 1));

        Assert.Equal(blob, child.Bytes);
        Assert.Equal(relay.EndPoint.ToString(), child.Source);
        Assert.Equal(blob.Length, learner.BlobBytesSent);   // the learner uploaded one copy; the relay served the other over TLS
        Assert.Equal(WeightTransferFailure.ConnectionLost, plain.Failure);
    }
}
