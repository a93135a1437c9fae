using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace RoRecomp.Actors.Hosting;

/// <summary>
/// A running RoRecomp node: an Akka.Hosting service provider whose hosted services (the actor system) are started, and
/// stopped on dispose (CoordinatedShutdown runs: the node leaves its cluster gracefully). Used by <c>train</c> and tests;
/// the actor system stopping on its own (e.g. downed) cancels <see cref="Stopped"/>.
/// </summary>
public sealed class RoRecompNode : IAsyncDisposable
{
    private readonly ServiceProvider _provider;
    private readonly List<IHostedService> _hosted;
    private readonly Lifetime _lifetime;

    private RoRecompNode(ServiceProvider provider, List<IHostedService> hosted, Lifetime lifetime)
    {
        _provider = provider;
        _hosted = hosted;
        _lifetime = lifetime;
    }

    /// <summary>The node's actor system.</summary>
    public ActorSystem System => _provider.GetRequiredService<ActorSystem>();

    /// <summary>The node's actor registry.</summary>
    public IActorRegistry Registry => _provider.GetRequiredService<IActorRegistry>();

    /// <summary>Cancelled when the actor system asks the application to stop.</summary>
    public CancellationToken Stopped => _lifetime.Stopping;

    /// <summary>Builds the node with <paramref name="configure"/> (e.g. AddRoRecompActors, AddRoRecompPipeline) and starts it.</summary>
    public static async Task<RoRecompNode> StartAsync(Action<AkkaConfigurationBuilder> configure, CancellationToken cancellationToken = default)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        var lifetime = new Lifetime();
        services.AddSingleton<IHostApplicationLifetime>(lifetime);
        services.AddAkka("rorecomp", (b, _) => configure(b));
        var provider = services.BuildServiceProvider();
        var hosted = provider.GetServices<IHostedService>().ToList();
        var node = new RoRecompNode(provider, hosted, lifetime);
        try
        {
            foreach (var h in hosted) await h.StartAsync(cancellationToken);
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
        return node;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var h in Enumerable.Reverse(_hosted))
        {
            try
            {
                await h.StopAsync(CancellationToken.None);
            }
            catch (Exception e) when (e is OperationCanceledException or TimeoutException)
            {
                // Already stopping.
            }
        }
        await _provider.DisposeAsync();
    }

    private sealed class Lifetime : IHostApplicationLifetime
    {
        private readonly CancellationTokenSource _stopping = new();

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => _stopping.Token;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public CancellationToken Stopping => _stopping.Token;

        public void StopApplication() => _stopping.Cancel();
    }
}
