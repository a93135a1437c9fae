using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace RoRecomp.Weights;

/// <summary>
/// TLS for the weight stream (<see cref="WeightServerOptions.Certificate"/>, <see cref="WeightClientOptions.Certificate"/>):
/// both sides present a certificate, as Akka.Remote's TLS with mutual authentication does, and each accepts the other's
/// when it is its own certificate (a cluster that shares one) or one that validates against the machine's trusted roots.
/// A client without a certificate is refused during the handshake, before it can send a request.
/// </summary>
internal static class WeightTls
{
    /// <summary>The server side of the handshake on an accepted connection.</summary>
    public static Task<Stream> AcceptAsync(Socket client, X509Certificate2 certificate, CancellationToken token) =>
        HandshakeAsync(client, tls => tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificate = certificate,
            ClientCertificateRequired = true,
            RemoteCertificateValidationCallback = (_, peer, _, errors) => IsPeer(certificate, peer, errors),
        }, token));

    /// <summary>The client side of the handshake on a connected socket.</summary>
    public static Task<Stream> ConnectAsync(Socket socket, X509Certificate2 certificate, string host, CancellationToken token) =>
        HandshakeAsync(socket, tls => tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = host,
            ClientCertificates = [certificate],
            LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate,
            RemoteCertificateValidationCallback = (_, peer, _, errors) => IsPeer(certificate, peer, errors),
        }, token));

    private static async Task<Stream> HandshakeAsync(Socket socket, Func<SslStream, Task> authenticate)
    {
        var tls = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        try
        {
            await authenticate(tls).ConfigureAwait(false);
            return tls;
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Whether a handshake failure is the peer's (no or a foreign certificate, not TLS at all) rather than the network's.</summary>
    public static bool IsHandshakeFailure(Exception e) => e is AuthenticationException || (e is IOException && e.InnerException is not SocketException);

    private static bool IsPeer(X509Certificate2 own, X509Certificate? peer, SslPolicyErrors errors)
    {
        if (peer is null) return false;
        if (peer.GetRawCertData().AsSpan().SequenceEqual(own.RawDataMemory.Span)) return true;   // the cluster's shared certificate
        errors &= ~SslPolicyErrors.RemoteCertificateNameMismatch;   // nodes are reached by IP as often as by name
        return errors == SslPolicyErrors.None;
    }
}
