using Mesh.Client.Http;
using Mesh.Client.LoadBalancing;

namespace Mesh.Client.Tests;

public sealed class EndpointUriTests
{
    private static EndpointState Endpoint(string authority) =>
        new(new Uri(authority), new Dictionary<string, string>(), zone: null);

    [Theory]
    [InlineData("http://reviews/", "http://10.0.0.7:9080/")]
    [InlineData("http://reviews", "http://10.0.0.7:9080/")]
    [InlineData("http://reviews:8080/api/reviews/1?user=a%20b&x=%2F", "http://10.0.0.7:9080/api/reviews/1?user=a%20b&x=%2F")]
    [InlineData("http://reviews/caf%C3%A9/x#frag", "http://10.0.0.7:9080/caf%C3%A9/x")]
    [InlineData("http://reviews/a/%2e%2e/b", "http://10.0.0.7:9080/b")]
    [InlineData("https://reviews/a/b/", "http://10.0.0.7:9080/a/b/")]
    public void Puts_the_callers_path_and_query_on_the_endpoint(string original, string expected)
    {
        var endpoint = Endpoint("http://10.0.0.7:9080");

        var first = EndpointUri.Rewrite(endpoint, new Uri(original));
        var again = EndpointUri.Rewrite(endpoint, new Uri(original));

        first.AbsoluteUri.ShouldBe(expected);
        again.AbsoluteUri.ShouldBe(expected);
        again.ShouldBeSameAs(first, "the second call with the same path and query reuses the rewritten URI");
    }

    [Fact]
    public void Each_endpoint_keeps_its_own_uris()
    {
        var a = Endpoint("http://10.0.0.7:9080");
        var b = Endpoint("https://10.0.0.8:9443");
        var original = new Uri("http://reviews/api/reviews/1");

        EndpointUri.Rewrite(a, original).AbsoluteUri.ShouldBe("http://10.0.0.7:9080/api/reviews/1");
        EndpointUri.Rewrite(b, original).AbsoluteUri.ShouldBe("https://10.0.0.8:9443/api/reviews/1");
        EndpointUri.Rewrite(a, original).AbsoluteUri.ShouldBe("http://10.0.0.7:9080/api/reviews/1");
    }

    [Fact]
    public void Uris_written_alike_but_parsed_differently_are_not_confused()
    {
        // The same text, once canonicalised (/a/../b is /b) and once kept as the caller wrote it: each must reach the
        // endpoint as its own URI says, whichever was rewritten first.
        var endpoint = Endpoint("http://10.0.0.7:9080");
        var raw = new Uri("http://reviews/a/../b", new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        var canonical = new Uri("http://reviews/a/../b");

        EndpointUri.Rewrite(endpoint, raw).PathAndQuery.ShouldBe("/a/../b");
        EndpointUri.Rewrite(endpoint, canonical).PathAndQuery.ShouldBe("/b");
        EndpointUri.Rewrite(endpoint, raw).PathAndQuery.ShouldBe("/a/../b");
    }

    [Fact]
    public void Long_paths_are_rewritten_every_time_and_never_kept()
    {
        var endpoint = Endpoint("http://10.0.0.7:9080");
        var original = new Uri("http://reviews/search?q=" + new string('x', EndpointUri.MaxCachedPathAndQueryLength));

        var first = EndpointUri.Rewrite(endpoint, original);
        var again = EndpointUri.Rewrite(endpoint, original);

        first.PathAndQuery.ShouldBe(original.PathAndQuery);
        again.PathAndQuery.ShouldBe(original.PathAndQuery);
        again.ShouldNotBeSameAs(first);
        endpoint.RewrittenUris.ShouldAllBe(u => u == null);
    }

    [Fact]
    public void Many_paths_sharing_the_slots_always_give_the_right_uri_and_the_table_stays_bounded()
    {
        var endpoint = Endpoint("http://10.0.0.7:9080");
        var random = new Random(7);
        var paths = new string[200];
        for (var i = 0; i < paths.Length; i++)
        {
            paths[i] = $"/items/{i}?v={random.Next()}";
        }

        for (var round = 0; round < 5; round++)
        {
            foreach (var index in Enumerable.Range(0, paths.Length).OrderBy(_ => random.Next()))
            {
                var rewritten = EndpointUri.Rewrite(endpoint, new Uri("http://catalog" + paths[index]));
                rewritten.AbsoluteUri.ShouldBe("http://10.0.0.7:9080" + paths[index]);
            }
        }

        endpoint.RewrittenUris.Length.ShouldBe(EndpointUri.CacheSlots);
    }

    [Fact]
    public void Concurrent_callers_on_shared_slots_each_get_their_own_path()
    {
        var endpoint = Endpoint("http://10.0.0.7:9080");
        var originals = new Uri[64];
        for (var i = 0; i < originals.Length; i++)
        {
            originals[i] = new Uri($"http://catalog/items/{i}");
        }

        var wrong = 0;
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, worker =>
        {
            for (var n = 0; n < 20_000; n++)
            {
                var i = (n * 7 + worker) % originals.Length;
                var rewritten = EndpointUri.Rewrite(endpoint, originals[i]);
                if (rewritten.PathAndQuery != $"/items/{i}" || rewritten.Port != 9080)
                {
                    Interlocked.Increment(ref wrong);
                }
            }
        });

        wrong.ShouldBe(0);
    }
}
