using System.Security.Cryptography.X509Certificates;
using Akka.Configuration;
using RoRecomp.Settings;

namespace RoRecomp.Actors.Hosting;

/// <summary>
/// The certificate of Akka.Remote's TLS (<c>akka.remote.dot-netty.tcp.enable-ssl</c>, <c>ssl.certificate.path</c> and
/// <c>password</c>), which the weight server and its clients use too: with TLS on, only holders of the cluster's
/// certificate fetch weights, as only they join the cluster.
/// </summary>
public static class RemoteCertificate
{
    private const string Tcp = "akka.remote.dot-netty.tcp";

    /// <summary>The certificate, or null when remoting's TLS is off.</summary>
    /// <exception cref="SettingsException">TLS is on but the certificate is not a readable PKCS#12 file.</exception>
    public static X509Certificate2? Load(Config config)
    {
        if (!config.HasPath($"{Tcp}.enable-ssl") || !config.GetBoolean($"{Tcp}.enable-ssl")) return null;
        var path = config.GetString($"{Tcp}.ssl.certificate.path", "");
        if (string.IsNullOrEmpty(path))
        {
            throw new SettingsException($"{Tcp}.enable-ssl is on but {Tcp}.ssl.certificate.path is empty: the weight server needs the " +
                "certificate as a PKCS#12 (.pfx) file (a certificate from a store, by thumbprint, is not supported for it)");
        }
        try
        {
            return X509CertificateLoader.LoadPkcs12FromFile(path, config.GetString($"{Tcp}.ssl.certificate.password", null));
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new SettingsException($"{Tcp}.ssl.certificate.path = {path}: cannot read the certificate: {e.Message}", e);
        }
    }
}
