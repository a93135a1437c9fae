using System.Net;
using System.Security.Cryptography;

namespace RoRecomp.Weights.Tests;

/// <summary>Per-chunk verification and relaying: fetchers that serve what they hold to other fetchers.</summary>
public sealed class RelayTests
{
    private const int Chunk = WeightServerOptions.MinChunkBytes;

    /// <summary>The run's credential: the learner's server and every relay's accept it, as in a cluster (the learner hands it out).</summary>
    private static readonly byte[] Run = RandomNumberGenerator.GetBytes(32);

    private static readonly WeightClient Client = new(new WeightClientOptions { ConnectTimeout = TimeSpan.FromSeconds(5), ReadTimeout = TimeSpan.FromSeconds(10), Credential = Run });

    private static WeightServer Learner() => new(new WeightServerOptions { ChunkBytes = Chunk, Credential = Run });

    private static WeightServer Relay() => new(new WeightServerOptions { ChunkBytes = Chunk, KeepVersions = 1, AwaitVersion = TimeSpan.FromSeconds(5), Credential = Run });

    [Fact]
    public async Task A_byte_flipped_in_any_chunk_fails_that_chunk()
    {
        await using var server = Learner();
        var published = server.Publish(1, WeightTransferTests.RandomBlob(7 * Chunk + 1000, 21)); // eight chunks, the last short
        var once = new WeightClient(Client.Options with { MaxAttempts = 1 });

        for (var bad = 0; bad < 8; bad++)
        {
            var target = bad;
            server.CorruptChunk = i => i == target;
            var ex = await Assert.ThrowsAsync<WeightTransferException>(() => once.FetchAsync(server.EndPoint, 1));
            Assert.Equal(WeightTransferFailure.ChecksumMismatch, ex.Failure);
            Assert.Equal(bad, ex.ChunkIndex);
            Assert.Contains($"chunk {bad} of 8", ex.Message);
        }
        server.CorruptChunk = null;
        Assert.Equal(published.Digest, (await once.FetchAsync(server.EndPoint, 1)).Digest);
    }

    [Fact]
    public async Task A_source_announcing_another_digest_than_the_one_named_is_refused()
    {
        await using var server = Learner();
        server.Publish(1, WeightTransferTests.RandomBlob(3 * Chunk, 22));
        var other = WeightTransferTests.ManifestDigest(WeightTransferTests.RandomBlob(3 * Chunk, 23), Chunk);

        var ex = await Assert.ThrowsAsync<WeightTransferException>(() => Client.FetchAsync([server.EndPoint], 1, other, relay: null));

        Assert.Equal(WeightTransferFailure.DigestMismatch, ex.Failure);
        Assert.Contains(other, ex.Message);
    }

    [Theory]
    [InlineData(1, 5)] // a chain
    [InlineData(2, 7)] // a binary tree, three levels
    [InlineData(3, 6)]
    public async Task A_relay_tree_delivers_identical_bytes_and_the_learner_uploads_one_copy(int fanOut, int fetchers)
    {
        await using var learner = Learner();
        var blob = WeightTransferTests.RandomBlob(40 * Chunk + 17, 24);
        var published = learner.Publish(3, blob);
        var relays = Enumerable.Range(0, fetchers).Select(_ => Relay()).ToList();
        try
        {
            var fetched = await Task.WhenAll(Enumerable.Range(0, fetchers).Select(i => Task.Run(() =>
            {
                var sources = RelayTree.Sources(i, fanOut).Select(EndPoint (k) => relays[k].EndPoint).Append(learner.EndPoint).ToList();
                return Client.FetchAsync(sources, 3, published.Digest, relays[i]);
            })));

            Assert.All(fetched, f => Assert.Equal(blob, f.Bytes));
            Assert.All(fetched, f => Assert.Equal(published.Digest, f.Digest));
            Assert.Equal(blob.Length, learner.BlobBytesSent); // only fetcher 0 fetched from the learner
            for (var i = 1; i < fetchers; i++)
                Assert.Equal(relays[RelayTree.Sources(i, fanOut)[0]].EndPoint.ToString(), fetched[i].Source);
            Assert.All(relays, r => Assert.Equal(3, r.Latest!.Version)); // every fetcher now serves the version, whole
        }
        finally
        {
            foreach (var r in relays) await r.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_relay_dying_mid_transfer_makes_its_child_resume_from_the_learner()
    {
        await using var learner = Learner();
        var blob = WeightTransferTests.RandomBlob(256 * Chunk, 25); // 16 MiB: more than the socket buffers hold
        var published = learner.Publish(1, blob);
        var parentRelay = Relay();
        await using var childRelay = Relay();
        parentRelay.CorruptChunk = i =>
        {
            if (i == 100) parentRelay.Dispose(); // the parent's node dies while serving its child
            return false;
        };

        var parent = Task.Run(() => Client.FetchAsync([learner.EndPoint], 1, published.Digest, parentRelay));
        var child = await Client.FetchAsync([parentRelay.EndPoint, learner.EndPoint], 1, published.Digest, childRelay).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(blob, child.Bytes);
        Assert.Equal(learner.EndPoint.ToString(), child.Source);
        Assert.Equal([parentRelay.EndPoint.ToString(), learner.EndPoint.ToString()], child.BytesBySource.Select(b => b.Source));
        Assert.Equal(blob.Length, child.BytesBySource.Sum(b => b.Bytes) - Overlap(child));
        Assert.True(child.BytesBySource[0].Bytes > 0, "the child got nothing from its parent before it died");
        Assert.True(learner.BlobBytesSent < 2L * blob.Length, $"the learner sent {learner.BlobBytesSent:N0} bytes: the child did not resume");
        Assert.Equal(blob, (await parent).Bytes); // the parent's own fetch is not hurt by its server dying
        await parentRelay.DisposeAsync();
    }

    [Fact]
    public async Task A_relay_sending_a_corrupted_chunk_is_left_for_the_learner()
    {
        await using var learner = Learner();
        var blob = WeightTransferTests.RandomBlob(20 * Chunk, 26);
        var published = learner.Publish(1, blob);
        await using var liar = Relay();
        await Client.FetchAsync([learner.EndPoint], 1, published.Digest, liar);
        liar.CorruptChunk = i => i == 12;

        var fetched = await Client.FetchAsync([liar.EndPoint, learner.EndPoint], 1, published.Digest, relay: null);

        Assert.Equal(blob, fetched.Bytes);
        Assert.Equal(learner.EndPoint.ToString(), fetched.Source);
        Assert.InRange(learner.BlobBytesSent - blob.Length, 1, 20L * Chunk - 12 * Chunk); // the learner sent only the chunks from 12 on (and a few verified late)
    }

    [Fact]
    public async Task A_relay_that_never_gets_the_version_is_waited_for_then_left()
    {
        await using var learner = Learner();
        var blob = WeightTransferTests.RandomBlob(3 * Chunk, 27);
        var published = learner.Publish(1, blob);
        await using var empty = new WeightServer(new WeightServerOptions { AwaitVersion = TimeSpan.FromMilliseconds(300), Credential = Run });

        var fetched = await Client.FetchAsync([empty.EndPoint, learner.EndPoint], 1, published.Digest, relay: null);

        Assert.Equal(blob, fetched.Bytes);
        Assert.Single(fetched.BytesBySource);
    }

    [Fact]
    public async Task A_relay_serves_only_clients_with_the_run_credential()
    {
        await using var learner = Learner();
        var blob = WeightTransferTests.RandomBlob(4 * Chunk, 28);
        var published = learner.Publish(1, blob);
        await using var relay = Relay();
        await Client.FetchAsync([learner.EndPoint], 1, published.Digest, relay);
        var stranger = new WeightClient(Client.Options with { Credential = RandomNumberGenerator.GetBytes(32), MaxAttempts = 1 });

        var refused = await Assert.ThrowsAsync<WeightTransferException>(() => stranger.FetchAsync(relay.EndPoint, 1));
        var sentBefore = learner.BlobBytesSent;
        var member = await Client.FetchAsync([relay.EndPoint, learner.EndPoint], 1, published.Digest, relay: null);

        Assert.Equal(WeightTransferFailure.Unauthorized, refused.Failure);
        Assert.Equal(1, relay.UnauthorizedRequests);
        Assert.Equal(blob, member.Bytes);
        Assert.Equal(relay.EndPoint.ToString(), member.Source);   // the relay served the member, the learner nothing more
        Assert.Equal(sentBefore, learner.BlobBytesSent);
    }

    [Fact]
    public async Task A_resumed_request_without_the_credential_gets_nothing()
    {
        await using var learner = Learner();
        learner.Publish(1, WeightTransferTests.RandomBlob(4 * Chunk, 29));
        var request = new byte[50];
        new byte[] { 0x52, 0x52, 0x57, 0x54, 0x02, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0 }.CopyTo(request, 0); // version 1 from chunk 2, zero credential

        var (status, after) = await WeightTransferTests.RawRequestAsync(learner.EndPoint, request);

        Assert.Equal(WeightStatus.Unauthorized, status);
        Assert.Equal(0, after);   // the header alone: no manifest, no chunk
        Assert.Equal(0, learner.BlobBytesSent);
    }

    [Fact]
    public void The_relay_tree_gives_parent_then_grandparent()
    {
        Assert.Empty(RelayTree.Sources(0, 2));
        Assert.Equal([0], RelayTree.Sources(1, 2));
        Assert.Equal([0], RelayTree.Sources(2, 2));
        Assert.Equal([1, 0], RelayTree.Sources(3, 2));
        Assert.Equal([2, 0], RelayTree.Sources(6, 2));
        Assert.Equal([4, 1], RelayTree.Sources(10, 2));
        Assert.Equal([6, 5], RelayTree.Sources(7, 1)); // a chain
        Assert.Empty(RelayTree.Sources(7, 0)); // relaying off
    }

    /// <summary>Bytes received twice: the chunk the relay was sending when it died is received again from the learner.</summary>
    private static long Overlap(WeightBlob fetched) => fetched.BytesBySource[0].Bytes % Chunk;
}
