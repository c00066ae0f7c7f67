using Mesh.Client.Http;
using Mesh.Client.LoadBalancing;

namespace Mesh.Client.Tests;

public sealed class EndpointUriTests
{
    private static EndpointState Endpoint(string authority) =>
        new(new Uri(authority), new Dictionary<string, string>(), zone: null);

    private static Uri[] Kept(EndpointState endpoint) => [.. endpoint.RewrittenUris.Where(u => u is not null).Select(u => u!)];

    [Theory]
    [InlineData("http://10.0.0.7:9080", "http://reviews/", "http://10.0.0.7:9080/")]
    [InlineData("http://10.0.0.7:9080", "http://reviews", "http://10.0.0.7:9080/")]
    [InlineData("http://10.0.0.7:9080", "http://reviews:8080/api/reviews/1?user=a%20b&x=%2F", "http://10.0.0.7:9080/api/reviews/1?user=a%20b&x=%2F")]
    [InlineData("http://10.0.0.7:9080", "http://reviews/caf%C3%A9/x#frag", "http://10.0.0.7:9080/caf%C3%A9/x")]
    [InlineData("http://10.0.0.7:9080", "http://reviews/a/%2e%2e/b", "http://10.0.0.7:9080/b")]
    [InlineData("http://10.0.0.7:9080", "https://reviews/a/b/", "http://10.0.0.7:9080/a/b/")]
    [InlineData("http://10.0.0.7:9080", "http://user:secret@reviews/x", "http://10.0.0.7:9080/x")]
    [InlineData("http://[::1]:9080", "http://reviews/v1/ratings", "http://[::1]:9080/v1/ratings")]
    [InlineData("https://10.0.0.8:443", "http://reviews/v1/ratings", "https://10.0.0.8/v1/ratings")]
    public void Puts_the_callers_path_and_query_on_the_endpoint_every_time(string endpointAddress, string original, string expected)
    {
        var endpoint = Endpoint(endpointAddress);

        for (var i = 0; i < 4; i++)
        {
            EndpointUri.Rewrite(endpoint, new Uri(original)).AbsoluteUri.ShouldBe(expected, $"call {i + 1}");
        }
    }

    [Fact]
    public void A_path_is_kept_from_its_second_request_on()
    {
        var endpoint = Endpoint("http://10.0.0.7:9080");
        var original = new Uri("http://reviews/api/reviews");

        var first = EndpointUri.Rewrite(endpoint, original);
        Kept(endpoint).ShouldBeEmpty("a path seen once may never come again");
        var second = EndpointUri.Rewrite(endpoint, new Uri("http://reviews/api/reviews"));
        var third = EndpointUri.Rewrite(endpoint, original);

        second.ShouldNotBeSameAs(first);
        third.ShouldBeSameAs(second);
        Kept(endpoint).ShouldBe([second]);
    }

    [Fact]
    public void Each_endpoint_keeps_its_own_uris()
    {
        var a = Endpoint("http://10.0.0.7:9080");
        var b = Endpoint("https://10.0.0.8:9443");
        var original = new Uri("http://reviews/api/reviews/1");

        for (var i = 0; i < 3; i++)
        {
            EndpointUri.Rewrite(a, original).AbsoluteUri.ShouldBe("http://10.0.0.7:9080/api/reviews/1");
            EndpointUri.Rewrite(b, original).AbsoluteUri.ShouldBe("https://10.0.0.8:9443/api/reviews/1");
        }

        Kept(a).Single().Authority.ShouldBe("10.0.0.7:9080");
        Kept(b).Single().Authority.ShouldBe("10.0.0.8:9443");
    }

    [Fact]
    public void Uris_written_alike_but_parsed_differently_are_not_confused()
    {
        // The same text, once canonicalised (/a/../b is /b) and once kept as the caller wrote it: each must reach the
        // endpoint as its own URI says, whichever was rewritten first.
        var endpoint = Endpoint("http://10.0.0.7:9080");
        var raw = new Uri("http://reviews/a/../b", new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        var canonical = new Uri("http://reviews/a/../b");

        for (var i = 0; i < 3; i++)
        {
            EndpointUri.Rewrite(endpoint, raw).PathAndQuery.ShouldBe("/a/../b");
            EndpointUri.Rewrite(endpoint, canonical).PathAndQuery.ShouldBe("/b");
        }
    }

    [Fact]
    public void Uris_with_a_query_are_never_kept()
    {
        // Queries carry tokens and personal data: they are not to outlive the request in a table.
        var endpoint = Endpoint("http://10.0.0.7:9080");
        var original = new Uri("http://accounts/reset?token=s3cret");

        var first = EndpointUri.Rewrite(endpoint, original);
        var again = EndpointUri.Rewrite(endpoint, original);
        var third = EndpointUri.Rewrite(endpoint, original);

        third.PathAndQuery.ShouldBe("/reset?token=s3cret");
        third.ShouldNotBeSameAs(again);
        again.ShouldNotBeSameAs(first);
        Kept(endpoint).ShouldBeEmpty();
    }

    [Theory]
    [InlineData(EndpointUri.MaxCachedPathLength, true)]
    [InlineData(EndpointUri.MaxCachedPathLength + 1, false)]
    public void Paths_up_to_the_limit_are_kept_and_longer_ones_never(int length, bool kept)
    {
        var endpoint = Endpoint("http://10.0.0.7:9080");
        var original = new Uri("http://reviews/" + new string('x', length - 1));
        original.PathAndQuery.Length.ShouldBe(length);

        for (var i = 0; i < 3; i++)
        {
            EndpointUri.Rewrite(endpoint, original).PathAndQuery.ShouldBe(original.PathAndQuery);
        }

        Kept(endpoint).Length.ShouldBe(kept ? 1 : 0);
    }

    [Fact]
    public void Paths_that_never_repeat_are_never_kept()
    {
        var endpoint = Endpoint("http://10.0.0.7:9080");

        for (var i = 0; i < 500; i++)
        {
            EndpointUri.Rewrite(endpoint, new Uri($"http://orders/orders/{i}")).AbsolutePath.ShouldBe($"/orders/{i}");
        }

        Kept(endpoint).ShouldBeEmpty();
    }

    [Fact]
    public void Many_repeated_paths_sharing_the_slots_always_give_the_right_uri()
    {
        var endpoint = Endpoint("http://10.0.0.7:9080");
        var random = new Random(7);
        var paths = new string[40];
        for (var i = 0; i < paths.Length; i++)
        {
            paths[i] = $"/items/{i}/{random.Next()}";
        }

        var hits = 0;
        for (var round = 0; round < 20; round++)
        {
            // Each path twice in a row, in a new order each round: every path gets kept at some point, and most slots
            // are fought over by two or three paths.
            foreach (var index in Enumerable.Range(0, paths.Length).OrderBy(_ => random.Next()))
            {
                for (var repeat = 0; repeat < 3; repeat++)
                {
                    var before = Kept(endpoint);
                    var rewritten = EndpointUri.Rewrite(endpoint, new Uri("http://catalog" + paths[index]));
                    rewritten.AbsoluteUri.ShouldBe("http://10.0.0.7:9080" + paths[index]);
                    hits += before.Contains(rewritten) ? 1 : 0;
                }
            }
        }

        hits.ShouldBeGreaterThan(0, "the table served some of the repeats");
        Kept(endpoint).ShouldAllBe(u => u.Authority == "10.0.0.7:9080" && paths.Contains(u.AbsolutePath));
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
                // Runs of the same path, so that paths do get kept while other threads replace them.
                var i = ((n / 4) * 7 + worker) % originals.Length;
                var rewritten = EndpointUri.Rewrite(endpoint, originals[i]);
                if (rewritten.PathAndQuery != $"/items/{i}" || rewritten.Authority != "10.0.0.7:9080")
                {
                    Interlocked.Increment(ref wrong);
                }
            }
        });

        wrong.ShouldBe(0);
        Kept(endpoint).ShouldNotBeEmpty();
    }
}
