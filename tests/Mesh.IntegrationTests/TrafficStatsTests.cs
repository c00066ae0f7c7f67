using Mesh.AspNetCore.Inbound;
using Mesh.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.IntegrationTests;

/// <summary>The traffic numbers an app sends with its lease renewals, measured from its own client pipeline only.</summary>
public sealed class TrafficStatsTests
{
    private static object Mesh(string name, Uri ratings) => new
    {
        Service = new { Name = name, Version = "v1" },
        Services = new Dictionary<string, object>
        {
            ["ratings"] = new
            {
                Endpoints = new object[] { new { Address = ratings.ToString(), Labels = new Dictionary<string, string> { ["version"] = "v2" } } },
                Routes = new object[] { new { Name = "plain", Retry = new { Attempts = 0 } } },
            },
        },
    };

    [Fact]
    public async Task Each_app_counts_its_own_calls_per_destination_version_with_errors_and_a_window()
    {
        await using var ratings = await TestBackend.StartAsync("ratings", context =>
        {
            context.Response.StatusCode = context.Request.Path.StartsWithSegments("/fail") ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
            if (context.Request.Path.StartsWithSegments("/grpc", out var rest))
            {
                // A trailers-only gRPC answer: HTTP 200, the call's status in the headers.
                context.Response.ContentType = "application/grpc";
                context.Response.Headers["grpc-status"] = rest.Value!.TrimStart('/');
            }

            return Task.CompletedTask;
        });
        var time = new ManualTimeProvider();

        // Two meshed apps in one process, as in the Bookinfo demo: each must see only its own calls.
        await using var reviews = MeshTestClient.Create(Mesh("reviews", ratings.Address), time, configure: s => s.AddSingleton<MeshTrafficStats>());
        await using var details = MeshTestClient.Create(Mesh("details", ratings.Address), time, configure: s => s.AddSingleton<MeshTrafficStats>());
        var reviewsStats = reviews.Services.GetRequiredService<MeshTrafficStats>();
        var detailsStats = details.Services.GetRequiredService<MeshTrafficStats>();
        reviewsStats.Start();
        detailsStats.Start();
        reviewsStats.CertificateExpiresAt = new DateTimeOffset(2031, 1, 1, 0, 0, 0, TimeSpan.Zero);

        for (var i = 0; i < 10; i++)
        {
            using var response = await reviews.Client.GetAsync(new Uri(i < 3 ? "http://ratings/fail" : "http://ratings/ok"));
        }

        // gRPC calls answer 200: UNAVAILABLE is the server's failure, NOT_FOUND the caller's answer, OK a success.
        foreach (var status in new[] { 14, 5, 0 })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"http://ratings/grpc/{status}"));
            request.Content = new ByteArrayContent([0, 0, 0, 0, 0]);
            request.Content.Headers.ContentType = new("application/grpc");
            using var response = await reviews.Client.SendAsync(request);
        }

        for (var i = 0; i < 4; i++)
        {
            using var response = await details.Client.GetAsync(new Uri("http://ratings/ok"));
        }

        time.Advance(TimeSpan.FromSeconds(2));
        var snapshot = reviewsStats.Snapshot();
        snapshot.WindowSeconds.ShouldBe(2);
        snapshot.CertificateExpiresAt.ShouldBe(new DateTimeOffset(2031, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var ratingsStats = snapshot.Destinations!.ShouldHaveSingleItem();
        ratingsStats.Service.ShouldBe("ratings");
        ratingsStats.Version.ShouldBe("v2");
        ratingsStats.Requests.ShouldBe(13);
        ratingsStats.Errors.ShouldBe(4, "three 503s and one gRPC UNAVAILABLE");
        ratingsStats.P50Ms.ShouldNotBeNull().ShouldBeGreaterThan(0);
        ratingsStats.P99Ms.ShouldNotBeNull().ShouldBeGreaterThanOrEqualTo(ratingsStats.P50Ms!.Value);

        detailsStats.Snapshot().Destinations!.ShouldHaveSingleItem().Requests.ShouldBe(4);

        // A snapshot starts a new window.
        time.Advance(TimeSpan.FromSeconds(1));
        var next = reviewsStats.Snapshot();
        next.WindowSeconds.ShouldBe(1);
        next.Destinations!.ShouldBeEmpty();
    }
}
