using Mesh.Testing;

namespace Mesh.IntegrationTests;

public sealed class RoutingTests
{
    private static object ReviewsMesh(TestBackend v1a, TestBackend v1b, TestBackend v2, string policy = "RoundRobin") => new
    {
        Services = new Dictionary<string, object>
        {
            ["reviews"] = new
            {
                Endpoints = new object[]
                {
                    new { Address = v1a.Address, Labels = new { version = "v1" } },
                    new { Address = v1b.Address, Labels = new { version = "v1" } },
                    new { Address = v2.Address, Labels = new { version = "v2" } },
                },
                Subsets = new { v1 = new { version = "v1" }, v2 = new { version = "v2" } },
                LoadBalancer = new { Policy = policy },
                Routes = new object[]
                {
                    new
                    {
                        Name = "testers",
                        Match = new { Headers = new Dictionary<string, string> { ["end-user"] = "jason" } },
                        Destinations = new object[] { new { Subset = "v2", Weight = 100 } },
                    },
                    new
                    {
                        Name = "default",
                        Destinations = new object[] { new { Subset = "v1", Weight = 90 }, new { Subset = "v2", Weight = 10 } },
                    },
                },
            },
        },
    };

    [Fact]
    public async Task A_synchronous_send_goes_through_the_mesh_too()
    {
        // HttpClient.Send is the synchronous API; past the mesh, the transport would look the service's name up in
        // DNS and send to whatever answers, without routes, retries or mesh TLS.
        await using var backend = await TestBackend.StartAsync("sync");
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                ["sync-send"] = new { Endpoints = new object[] { new { Address = backend.Address } } },
            },
        });

        using var request = new HttpRequestMessage(HttpMethod.Get, "http://sync-send/items");
        using var response = await Task.Run(() => mesh.Client.Send(request));

        response.StatusCode.ShouldBe(System.Net.HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldBe("sync");
        request.RequestUri.ShouldBe(new Uri("http://sync-send/items"));
        backend.Requests.ShouldBe(1);
    }

    [Fact]
    public async Task Canary_split_sends_ten_percent_to_v2_and_jason_always_to_v2()
    {
        await using var v1a = await TestBackend.StartAsync("v1a");
        await using var v1b = await TestBackend.StartAsync("v1b");
        await using var v2 = await TestBackend.StartAsync("v2");
        await using var mesh = MeshTestClient.Create(ReviewsMesh(v1a, v1b, v2));

        const int total = 10_000;
        var counts = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        await Parallel.ForEachAsync(Enumerable.Range(0, total), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, ct) =>
        {
            var body = await mesh.Client.GetStringAsync(new Uri("http://reviews/api/reviews/1"), ct);
            counts.AddOrUpdate(body, 1, (_, c) => c + 1);
        });

        var v2Share = counts.GetValueOrDefault("v2") / (double)total;
        v2Share.ShouldBeInRange(0.085, 0.115);
        var a = counts.GetValueOrDefault("v1a");
        var b = counts.GetValueOrDefault("v1b");
        (a + b + counts.GetValueOrDefault("v2")).ShouldBe(total);
        // Round robin over the v1 subset: the two v1 endpoints share evenly.
        Math.Abs(a - b).ShouldBeLessThanOrEqualTo(total / 100);

        for (var i = 0; i < 200; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "http://reviews/api/reviews/1");
            request.Headers.Add("end-user", "jason");
            using var response = await mesh.Client.SendAsync(request);
            (await response.Content.ReadAsStringAsync()).ShouldBe("v2");
        }
    }

    [Fact]
    public async Task Requests_to_hosts_outside_the_mesh_pass_through_untouched()
    {
        await using var other = await TestBackend.StartAsync("other");
        await using var mesh = MeshTestClient.Create(new { Services = new Dictionary<string, object>() });
        var body = await mesh.Client.GetStringAsync(new Uri(other.Address, "/hello"));
        body.ShouldBe("other");
        other.LastRequestHeaders!.ContainsKey("x-mesh-timeout-ms").ShouldBeFalse();
    }
}
