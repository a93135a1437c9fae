using Akka.Configuration;

namespace RoRecomp.Settings;

/// <summary>The result of <see cref="SettingsLoader.Resolve"/>: the validated settings and the <c>akka.*</c> keys the layers carry.</summary>
/// <param name="Settings">Every <c>rorecomp.*</c> setting, checked.</param>
/// <param name="Akka">The <c>akka.*</c> part of the layers (e.g. TLS for Akka.Remote), or an empty config; see <see cref="SettingsLoader.AkkaSection"/>.</param>
public sealed record LoadedSettings(RoRecompSettings Settings, Config Akka)
{
    /// <summary>Whether the layers turn on TLS for Akka.Remote (<c>akka.remote.dot-netty.tcp.enable-ssl</c>).</summary>
    public bool RemoteSsl => Akka.HasPath("akka.remote.dot-netty.tcp.enable-ssl") && Akka.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl");
}
