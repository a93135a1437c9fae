using RoRecomp.Actors.Persistence;
using RoRecomp.Actors.ReplayBuffer;
using RoRecomp.Actors.Tests.Serialization;
using RoRecomp.Core.Rollouts;
using RoRecomp.Settings;

namespace RoRecomp.Actors.Tests.ReplayBuffer;

/// <summary>The replay buffer's body store: the body encoding, where the SQLite file goes, and reading back what was written.</summary>
public sealed class ResponseBodyStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-bodies-").FullName;

    public void Dispose() => TestDirs.Delete(_dir);

    /// <summary>A response's arrays as text, to compare bodies (what a header lacks) in assertions.</summary>
    internal static string BodyText(Response r) =>
        $"{string.Join(',', r.PromptTokens)}|{string.Join(',', r.Tokens)}|{string.Join(',', r.LogProbs)}|{(r.ActionMask.IsDefault ? "-" : string.Join(',', r.ActionMask))}";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_body_decodes_to_the_arrays_it_was_encoded_from(bool withMask)
    {
        var r = RoRecompSerializerTests.MakeResponse("a/0", length: 37, withMask: withMask);
        var back = ResponseBodyStore.Decode(ResponseBodyStore.Header(r), ResponseBodyStore.Encode(r));
        Assert.Equal(BodyText(r), BodyText(back));
        Assert.Equal(r.ActionMask.IsDefault, back.ActionMask.IsDefault);
        Assert.Equal(r.Reward, back.Reward);
    }

    [Fact]
    public void A_truncated_body_is_refused_with_the_response_id()
    {
        var r = RoRecompSerializerTests.MakeResponse("t/0", length: 8);
        var body = ResponseBodyStore.Encode(r);
        var e = Assert.Throws<InvalidDataException>(() => ResponseBodyStore.Decode(r, body.AsSpan(0, body.Length - 3)));
        Assert.Contains("t/0", e.Message);
    }

    [Fact]
    public async Task Written_bodies_fill_their_headers_and_a_missing_one_is_named()
    {
        var store = ResponseBodyStore.For(new PersistenceSettings("sqlite", "", ""), _dir);
        Assert.Equal(Path.Combine(_dir, "journal.bodies.db"), store.Location);
        var responses = Enumerable.Range(0, 3).Select(i => RoRecompSerializerTests.MakeResponse($"w/{i}", length: 10 + i)).ToList();
        await store.WriteAsync("p", generation: 4, responses);
        var filled = store.Fill("p", [.. responses.Select(ResponseBodyStore.Header)]);
        Assert.Equal(responses.Select(BodyText), filled.Select(BodyText));
        Assert.Equal(4, store.MaxGeneration("p"));
        Assert.Equal(0, store.MaxGeneration("other"));

        var e = Assert.Throws<InvalidDataException>(() => store.Fill("other", [ResponseBodyStore.Header(responses[0])]));
        Assert.Contains("w/0", e.Message);

        Assert.Equal(2, await store.DeleteUnreferencedAsync("p", cut: 4, keep: new HashSet<string> { "w/1" }));
        Assert.Equal(1, store.Size("p").Rows);
        Assert.Equal(0, await store.DeleteUnreferencedAsync("p", cut: 3, keep: new HashSet<string>())); // newer than the cut
    }

    [Fact]
    public async Task A_new_bodies_file_has_64_KiB_pages()
    {
        var store = ResponseBodyStore.For(new PersistenceSettings("sqlite", "", ""), _dir);
        await store.WriteAsync("p", generation: 1, [RoRecompSerializerTests.MakeResponse("x/0", length: 5000)]);
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={store.Location};Pooling=false");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA page_size";
        Assert.Equal(65536L, (long)command.ExecuteScalar()!);
    }

    [Fact]
    public void Reading_the_generation_of_a_run_without_a_bodies_file_does_not_create_one()
    {
        var store = ResponseBodyStore.For(new PersistenceSettings("sqlite", "", ""), _dir);
        Assert.Equal(0, store.MaxGeneration("p"));
        Assert.False(File.Exists(store.Location)); // a run in "journal" mode, listed by ReplayBufferContents, stays as it was
    }
}
