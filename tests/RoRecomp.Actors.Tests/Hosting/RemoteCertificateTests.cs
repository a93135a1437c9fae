using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Configuration;
using RoRecomp.Actors.Hosting;
using RoRecomp.Settings;

namespace RoRecomp.Actors.Tests.Hosting;

/// <summary>The weight server takes Akka.Remote's TLS certificate from the same keys the node's remoting reads.</summary>
public sealed class RemoteCertificateTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-cert-").FullName;

    public void Dispose() => TestDirs.Delete(_dir);

    [Fact]
    public void With_enable_ssl_the_pfx_of_remoting_is_loaded_with_its_password()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var made = new CertificateRequest("CN=node", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var pfx = Path.Combine(_dir, "node.pfx");
        File.WriteAllBytes(pfx, made.Export(X509ContentType.Pfx, "s3cret"));

        using var loaded = RemoteCertificate.Load(ConfigurationFactory.ParseString(
            $"akka.remote.dot-netty.tcp {{ enable-ssl = true, ssl.certificate {{ path = \"{pfx}\", password = \"s3cret\" }} }}"));

        Assert.NotNull(loaded);
        Assert.Equal(made.Thumbprint, loaded.Thumbprint);
        Assert.True(loaded.HasPrivateKey);
    }

    [Fact]
    public void Without_enable_ssl_there_is_none_and_a_bad_path_is_a_settings_error()
    {
        Assert.Null(RemoteCertificate.Load(ConfigurationFactory.Empty));
        Assert.Null(RemoteCertificate.Load(ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp.enable-ssl = false")));
        var none = Assert.Throws<SettingsException>(() => RemoteCertificate.Load(ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp.enable-ssl = true")));
        Assert.Contains("ssl.certificate.path is empty", none.Message);
        var missing = Path.Combine(_dir, "missing.pfx");
        var bad = Assert.Throws<SettingsException>(() => RemoteCertificate.Load(ConfigurationFactory.ParseString(
            $"akka.remote.dot-netty.tcp {{ enable-ssl = true, ssl.certificate.path = \"{missing}\" }}")));
        Assert.Contains(missing, bad.Message);
    }
}
