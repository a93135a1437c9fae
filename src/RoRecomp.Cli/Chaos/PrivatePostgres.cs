using System.Globalization;
using RoRecomp.Cli.Processes;

namespace RoRecomp.Cli.Chaos;

/// <summary>
/// A PostgreSQL server of the chaos harness's own: a fresh cluster (<c>initdb</c>) in a temporary directory, listening
/// on 127.0.0.1 on a free port with trust authentication, so the harness can restart it in immediate mode (a crash)
/// without touching any other server on the machine. Needs Debian's server binaries (<c>/usr/lib/postgresql/N/bin</c>,
/// the <c>postgresql</c> package that <c>.ci/setup</c> installs); as root it runs them as the <c>postgres</c> user.
/// Disposing stops it and deletes its files.
/// </summary>
public sealed class PrivatePostgres : IDisposable
{
    private readonly string _bin;
    private readonly string _dir;
    private readonly string _data;
    private readonly bool _asPostgresUser;

    private PrivatePostgres(string bin, string dir, int port, bool asPostgresUser)
    {
        _bin = bin;
        _dir = dir;
        _data = Path.Combine(dir, "data");
        Port = port;
        _asPostgresUser = asPostgresUser;
    }

    /// <summary>The port it listens on (127.0.0.1).</summary>
    public int Port { get; }

    /// <summary>An Npgsql connection string for the journal.</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};Username=rorecomp;Database=postgres;Timeout=5;Command Timeout=10";

    /// <summary>Initialises and starts a server; throws <see cref="InvalidOperationException"/> saying what is missing when it cannot.</summary>
    public static PrivatePostgres Start()
    {
        var root = "/usr/lib/postgresql";
        var bin = Directory.Exists(root)
            ? Directory.GetDirectories(root).Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "pg_ctl")))
                .OrderBy(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0).LastOrDefault()
            : null;
        if (bin is null)
            throw new InvalidOperationException($"no PostgreSQL server binaries under {root} (apt-get install postgresql; .ci/setup does)");
        var asPostgres = HostCommand.IsRoot;
        var dir = Directory.CreateTempSubdirectory("rorecomp-chaos-pg-").FullName;
        var pg = new PrivatePostgres(bin, dir, NodeProcess.FreePort(), asPostgres);
        try
        {
            if (asPostgres) HostCommand.Run("chown", ["-R", "postgres:postgres", dir]);
            pg.Tool("initdb", ["-D", pg._data, "-U", "rorecomp", "--auth=trust", "-E", "UTF8", "--no-sync"]);
            pg.StartServer();
            return pg;
        }
        catch
        {
            pg.Dispose();
            throw;
        }
    }

    /// <summary>Stops the server in immediate mode (like a crash: no checkpoint, clients cut off) and starts it again.</summary>
    public void RestartImmediate()
    {
        Tool("pg_ctl", ["-D", _data, "-m", "immediate", "-w", "stop"]);
        StartServer();
    }

    /// <summary>Stops the server (fast mode: clients are disconnected, then a clean shutdown) until <see cref="StartAgain"/>: the journal is unavailable.</summary>
    public void Stop() => Tool("pg_ctl", ["-D", _data, "-m", "fast", "-w", "stop"]);

    /// <summary>Starts the server again after <see cref="Stop"/> (same port, same data).</summary>
    public void StartAgain() => StartServer();

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            if (File.Exists(Path.Combine(_data, "postmaster.pid"))) Tool("pg_ctl", ["-D", _data, "-m", "immediate", "-w", "stop"]);
        }
        catch (InvalidOperationException)
        {
            // best effort
        }
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void StartServer() =>
        Tool("pg_ctl", ["-D", _data, "-l", Path.Combine(_dir, "server.log"), "-w", "-t", "60", "-o",
            $"-p {Port.ToString(CultureInfo.InvariantCulture)} -c listen_addresses=127.0.0.1 -k {_dir}", "start"]);

    private void Tool(string name, IReadOnlyList<string> args)
    {
        var exe = Path.Combine(_bin, name);
        if (_asPostgresUser) HostCommand.Run("runuser", ["-u", "postgres", "--", exe, .. args]);
        else HostCommand.Run(exe, args);
    }
}
