using System.Collections.Immutable;
using System.Data;
using System.Data.Common;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;
using Npgsql;
using RoRecomp.Actors.Persistence;
using RoRecomp.Core.Rollouts;
using RoRecomp.Settings;

namespace RoRecomp.Actors.ReplayBuffer;

/// <summary>
/// Where the replay buffer keeps its responses' token arrays (prompt and response token ids, log-probs, action mask)
/// when they live outside its event stream (<c>rorecomp.buffer.response-bodies = "table"</c>): one row per
/// (persistence id, response id) in table <c>rorecomp_response_body</c>, in the run's PostgreSQL database or, on SQLite,
/// in a file of its own beside the journal (<c>journal.bodies.db</c>), so body writes and journal writes do not take
/// turns on one file lock. The buffer's events and snapshots then carry ids and scalars only: each response's arrays
/// are written once, not again in every snapshot that holds it.
/// <para>
/// Rows carry a generation: the buffer writes a store's bodies (durably) before it journals the events that name them,
/// tags them with its current generation, and after each snapshot deletes the rows of generations up to the
/// snapshot's cut that the snapshot does not name (<see cref="DeleteUnreferencedAsync"/>). Rows written after the cut
/// are never touched by that cycle, so a body is only deleted once no snapshot or later event can need it.
/// </para>
/// </summary>
public sealed class ResponseBodyStore
{
    /// <summary>The table's name.</summary>
    public const string Table = "rorecomp_response_body";

    private const int ReadBatch = 500;
    private readonly bool _postgres;
    private readonly string _connectionString;

    private ResponseBodyStore(bool postgres, string connectionString)
    {
        _postgres = postgres;
        _connectionString = connectionString;
    }

    /// <summary>Where the store is, for messages: the SQLite file or "PostgreSQL".</summary>
    public string Location => _postgres ? "the PostgreSQL database" : new SqliteConnectionStringBuilder(_connectionString).DataSource;

    /// <summary>
    /// The body store of a run with <c>buffer.response-bodies = "table"</c>, null with <c>"journal"</c>; with
    /// <paramref name="readOnly"/> (reading a finished run) the store whenever one may hold bodies, whatever the setting.
    /// </summary>
    public static ResponseBodyStore? ForRun(RoRecompSettings settings, bool readOnly = false) =>
        readOnly || settings.Buffer.ResponseBodies == BufferSettings.Table ? For(settings.Persistence, settings.Run.RunDir) : null;

    /// <summary>The store of a run: beside its SQLite journal, or in its PostgreSQL database.</summary>
    public static ResponseBodyStore For(PersistenceSettings persistence, string runDir)
    {
        var journal = PersistenceHocon.ConnectionString(persistence, runDir);
        if (persistence.Provider == "postgresql") return new ResponseBodyStore(true, journal);
        var builder = new SqliteConnectionStringBuilder(journal);
        builder.DataSource = BodiesFile(builder.DataSource);
        builder.Pooling = true;
        return new ResponseBodyStore(false, builder.ToString());
    }

    /// <summary>The SQLite bodies file beside journal file <paramref name="journalFile"/>: <c>journal.db</c> -> <c>journal.bodies.db</c>.</summary>
    public static string BodiesFile(string journalFile) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(journalFile)) ?? ".", Path.GetFileNameWithoutExtension(journalFile) + ".bodies.db");

    /// <summary>Writes the bodies of <paramref name="responses"/> (one transaction; a row already there is replaced).</summary>
    public async Task WriteAsync(string persistenceId, long generation, IReadOnlyList<Response> responses, CancellationToken cancellationToken = default)
    {
        if (responses.Count == 0) return;
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = $"INSERT INTO {Table} (persistence_id, response_id, generation, body) VALUES (@p, @id, @g, @b) " +
            "ON CONFLICT (persistence_id, response_id) DO UPDATE SET generation = excluded.generation, body = excluded.body";
        Add(command, "@p", persistenceId);
        Add(command, "@g", generation);
        var id = Add(command, "@id", "");
        var b = Add(command, "@b", Array.Empty<byte>());
        foreach (var r in responses)
        {
            id.Value = r.Id;
            b.Value = Encode(r);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The bodies of <paramref name="headers"/> put back (recovery; synchronous, as the buffer's recovery handlers are).
    /// Throws <see cref="InvalidDataException"/> naming the first response whose body is missing.
    /// </summary>
    public ImmutableArray<Response> Fill(string persistenceId, ImmutableArray<Response> headers)
    {
        if (headers.IsDefaultOrEmpty) return headers;
        var bodies = Read(persistenceId, [.. headers.Select(h => h.Id).Distinct(StringComparer.Ordinal)]);
        return [.. headers.Select(h => bodies.TryGetValue(h.Id, out var body)
            ? Decode(h, body)
            : throw new InvalidDataException($"the replay buffer's response {h.Id} has no body in {Table} ({Location}, persistence id {persistenceId}): the bodies store was changed or lost apart from the journal"))];
    }

    /// <summary>
    /// The newest generation of <paramref name="persistenceId"/>'s rows (0 when it has none, or when there is no bodies
    /// file yet: it is not created just to be read, as when a finished run's buffer is listed).
    /// </summary>
    public long MaxGeneration(string persistenceId)
    {
        if (!_postgres && !File.Exists(Location)) return 0;
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT COALESCE(MAX(generation), 0) FROM {Table} WHERE persistence_id = @p";
        Add(command, "@p", persistenceId);
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Deletes the rows of <paramref name="persistenceId"/> of generation &lt;= <paramref name="cut"/> whose response id is
    /// not in <paramref name="keep"/>; returns how many.
    /// </summary>
    public async Task<int> DeleteUnreferencedAsync(string persistenceId, long cut, IReadOnlySet<string> keep, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var gone = new List<string>();
        await using (var select = connection.CreateCommand())
        {
            select.CommandText = $"SELECT response_id FROM {Table} WHERE persistence_id = @p AND generation <= @g";
            Add(select, "@p", persistenceId);
            Add(select, "@g", cut);
            await using var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var id = reader.GetString(0);
                if (!keep.Contains(id)) gone.Add(id);
            }
        }
        if (gone.Count == 0) return 0;
        await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var delete = connection.CreateCommand();
        delete.Transaction = tx;
        delete.CommandText = $"DELETE FROM {Table} WHERE persistence_id = @p AND response_id = @id AND generation <= @g";
        Add(delete, "@p", persistenceId);
        Add(delete, "@g", cut);
        var idParameter = Add(delete, "@id", "");
        foreach (var id in gone)
        {
            idParameter.Value = id;
            await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return gone.Count;
    }

    /// <summary>Rows and body bytes of <paramref name="persistenceId"/> (benchmarks, tests).</summary>
    public (long Rows, long Bytes) Size(string persistenceId)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM {Table} WHERE persistence_id = @p";
        Add(command, "@p", persistenceId);
        using var reader = command.ExecuteReader();
        reader.Read();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>Deletes every row of <paramref name="persistenceId"/> (benchmarks that clean up after themselves).</summary>
    public void DeleteAll(string persistenceId)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"DELETE FROM {Table} WHERE persistence_id = @p";
        Add(command, "@p", persistenceId);
        command.ExecuteNonQuery();
    }

    /// <summary>The body of one response as stored: four lengths, then the arrays' raw little-endian bytes.</summary>
    public static byte[] Encode(Response r)
    {
        ReadOnlySpan<int> prompt = r.PromptTokens.IsDefault ? [] : r.PromptTokens.AsSpan();
        ReadOnlySpan<int> tokens = r.Tokens.IsDefault ? [] : r.Tokens.AsSpan();
        ReadOnlySpan<float> logProbs = r.LogProbs.IsDefault ? [] : r.LogProbs.AsSpan();
        ReadOnlySpan<bool> mask = r.ActionMask.IsDefault ? [] : r.ActionMask.AsSpan();
        var bytes = new byte[16 + 4 * (prompt.Length + tokens.Length + logProbs.Length) + mask.Length];
        var span = bytes.AsSpan();
        BitConverter.TryWriteBytes(span, r.PromptTokens.IsDefault ? -1 : prompt.Length);
        BitConverter.TryWriteBytes(span[4..], r.Tokens.IsDefault ? -1 : tokens.Length);
        BitConverter.TryWriteBytes(span[8..], r.LogProbs.IsDefault ? -1 : logProbs.Length);
        BitConverter.TryWriteBytes(span[12..], r.ActionMask.IsDefault ? -1 : mask.Length);
        var at = 16;
        at += Copy(MemoryMarshal.AsBytes(prompt), span[at..]);
        at += Copy(MemoryMarshal.AsBytes(tokens), span[at..]);
        at += Copy(MemoryMarshal.AsBytes(logProbs), span[at..]);
        Copy(MemoryMarshal.AsBytes(mask), span[at..]);
        return bytes;
    }

    /// <summary><paramref name="header"/> with the arrays of <paramref name="body"/> (as <see cref="Encode"/> wrote them).</summary>
    public static Response Decode(Response header, ReadOnlySpan<byte> body)
    {
        if (body.Length < 16) throw new InvalidDataException($"the body of response {header.Id} is {body.Length} bytes: too short");
        var lengths = MemoryMarshal.Cast<byte, int>(body[..16]);
        var at = 16;
        var prompt = Take<int>(body, ref at, lengths[0], 4, header.Id);
        var tokens = Take<int>(body, ref at, lengths[1], 4, header.Id);
        var logProbs = Take<float>(body, ref at, lengths[2], 4, header.Id);
        var mask = Take<bool>(body, ref at, lengths[3], 1, header.Id);
        if (at != body.Length) throw new InvalidDataException($"the body of response {header.Id} has {body.Length - at} bytes past its arrays");
        return header with { PromptTokens = prompt, Tokens = tokens, LogProbs = logProbs, ActionMask = mask };
    }

    /// <summary><paramref name="r"/> without its arrays (what the journal keeps when bodies live here).</summary>
    public static Response Header(Response r) => r with { PromptTokens = [], Tokens = [], LogProbs = [], ActionMask = default };

    private static ImmutableArray<T> Take<T>(ReadOnlySpan<byte> body, ref int at, int length, int size, string id)
        where T : struct
    {
        if (length < 0) return default;
        if ((long)length * size > body.Length - at) throw new InvalidDataException($"the body of response {id} is truncated");
        var values = MemoryMarshal.Cast<byte, T>(body.Slice(at, length * size)).ToArray();
        at += length * size;
        return ImmutableCollectionsMarshal.AsImmutableArray(values);
    }

    private static int Copy(ReadOnlySpan<byte> from, Span<byte> to)
    {
        from.CopyTo(to);
        return from.Length;
    }

    private Dictionary<string, byte[]> Read(string persistenceId, string[] ids)
    {
        var bodies = new Dictionary<string, byte[]>(ids.Length, StringComparer.Ordinal);
        using var connection = Open();
        for (var start = 0; start < ids.Length; start += ReadBatch)
        {
            var batch = ids.AsSpan(start, Math.Min(ReadBatch, ids.Length - start));
            using var command = connection.CreateCommand();
            var names = new string[batch.Length];
            for (var i = 0; i < batch.Length; i++)
            {
                names[i] = $"@i{i}";
                Add(command, names[i], batch[i]);
            }
            Add(command, "@p", persistenceId);
            command.CommandText = $"SELECT response_id, body FROM {Table} WHERE persistence_id = @p AND response_id IN ({string.Join(", ", names)})";
            using var reader = command.ExecuteReader();
            while (reader.Read()) bodies[reader.GetString(0)] = (byte[])reader.GetValue(1);
        }
        return bodies;
    }

    private DbConnection Open()
    {
        var connection = NewConnection();
        try
        {
            connection.Open();
            EnsureCreated(connection);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = NewConnection();
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            EnsureCreated(connection);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private DbConnection NewConnection() => _postgres ? new NpgsqlConnection(_connectionString) : new SqliteConnection(_connectionString);

    // On every connection (a schema check, cheap beside a chunk of bodies): a bodies file replaced by an empty one gets
    // its table back instead of failing every write. A rollback journal, not WAL: bodies are appended in transactions of
    // megabytes, which WAL writes twice (log, then checkpoint) and a rollback journal once (it only saves the few pages
    // it changes in place); bench buffer 8k tokens, back to back under the same load: 44.8-49.7 MB/s vs 35.1-37.0.
    // 64 KiB pages (set before a new file's first write; an existing file keeps its own): a 74 KB body of 8k tokens is
    // 2 pages instead of 19 overflow pages, each a pager entry and a write; back to back, under load: 47.2, 51.9 MB/s
    // vs 38.7, 40.2 with 4 KiB pages, 15.2 vs 16.8-17.9 CPU-seconds a run, for 9% more file (partly filled last pages).
    private void EnsureCreated(DbConnection connection)
    {
        using var command = connection.CreateCommand();
        var blob = _postgres ? "BYTEA" : "BLOB";
        command.CommandText = $"CREATE TABLE IF NOT EXISTS {Table} (persistence_id TEXT NOT NULL, response_id TEXT NOT NULL, " +
            $"generation BIGINT NOT NULL, body {blob} NOT NULL, PRIMARY KEY (persistence_id, response_id))";
        if (!_postgres) command.CommandText = "PRAGMA page_size = 65536; PRAGMA journal_mode = TRUNCATE; PRAGMA synchronous = FULL; " + command.CommandText;
        try
        {
            command.ExecuteNonQuery();
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateTable)
        {
            // Another process created it at the same moment (PostgreSQL's IF NOT EXISTS does not cover that race).
        }
    }

    private static DbParameter Add(DbCommand command, string name, object value)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.Value = value;
        if (value is byte[]) p.DbType = DbType.Binary;
        command.Parameters.Add(p);
        return p;
    }
}
