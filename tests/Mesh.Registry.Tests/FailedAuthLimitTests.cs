using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary>Failed authentications are limited per remote address: 429 with Retry-After, before the token is looked at.</summary>
public sealed class FailedAuthLimitTests
{
    private static readonly Uri Services = new("/v1/services", UriKind.Relative);

    [Fact]
    public async Task Sixty_wrong_tokens_a_minute_are_401_then_the_address_gets_429_with_retry_after_whatever_its_token_until_the_allowance_returns()
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await RegistryHost.StartAsync(time);
        using var guesser = new HttpClient { BaseAddress = host.Address };
        for (var i = 0; i < 60; i++)
        {
            using var refused = await SendAsync(guesser, $"guess-{i}");
            refused.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }

        using (var limited = await SendAsync(guesser, "guess-60"))
        {
            await limited.ProblemAsync(HttpStatusCode.TooManyRequests);
            limited.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromSeconds(1));
        }

        // Checked before the token: even the admin token gets 429 from this address, for anything under /v1.
        using (var admin = await SendAsync(guesser, RegistryHost.AdminToken))
        {
            admin.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        }

        using (var certificates = await guesser.PostAsync(new Uri("/v1/certificates", UriKind.Relative), Api.Json("{}")))
        {
            certificates.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        }

        // The health check is not an API call.
        (await guesser.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK);

        // Another address is not affected.
        using (var neighbour = new HttpClient(From(IPAddress.Parse("127.0.0.2"))) { BaseAddress = host.Address })
        using (var fine = await SendAsync(neighbour, RegistryHost.AdminToken))
        {
            fine.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        // One failure comes back every second (60 a minute): one more guess, then 429 again; a whole window restores all.
        time.Advance(TimeSpan.FromSeconds(1));
        (await SendAsync(guesser, "guess-61")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await SendAsync(guesser, "guess-62")).StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        time.Advance(TimeSpan.FromMinutes(1));
        (await SendAsync(guesser, RegistryHost.AdminToken)).StatusCode.ShouldBe(HttpStatusCode.OK);
        host.Logs.AllText().ShouldContain("failed authentications");
        host.Logs.AllText().ShouldNotContain("guess-");
    }

    [Fact]
    public async Task A_workload_certificate_keeps_working_from_an_address_a_guesser_has_limited()
    {
        // A guesser and an honest workload behind one address (a NAT, a node): the guesser must not stop renewals.
        await using var host = await RegistryHost.StartAsync(https: true);
        var certificate = await RegistryTlsTests.BootstrapAsync(host, RegistryHost.ReviewsToken);
        using var guesser = host.Client(null);
        for (var i = 0; i < 60; i++)
        {
            (await SendAsync(guesser, $"guess-{i}")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }

        (await SendAsync(guesser, RegistryHost.ReviewsToken)).StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);

        using var workload = host.Client(null, certificate);
        (await workload.RegisterAsync("reviews", "r1", "http://10.0.0.1:80", version: null)).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await workload.GetJsonAsync("/v1/services")).GetProperty("services").GetRawText().ShouldContain("reviews");

        // A certificate the registry does not trust is no way around the limit.
        using var other = new TestCertificateAuthority(name: "other");
        using var foreign = host.Client(null, other.IssueWorkload("reviews"));
        (await foreign.GetAsync(new Uri("/v1/services", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        certificate.Dispose();
    }

    [Fact]
    public async Task A_workload_certificate_is_no_way_around_the_limit_for_tokens_guessed_as_Consul_sends_them()
    {
        // The certificate passes the limit only for a call it authenticates: a Consul token beside it is a guess.
        await using var host = await RegistryHost.StartAsync(https: true);
        var certificate = await RegistryTlsTests.BootstrapAsync(host, RegistryHost.ReviewsToken);
        using var workload = host.Client(null, certificate);
        for (var i = 0; i < 60; i++)
        {
            using var guess = new HttpRequestMessage(HttpMethod.Get, new Uri("/v1/catalog/services", UriKind.Relative));
            guess.Headers.Add("X-Consul-Token", $"guess-{i}");
            (await workload.SendAsync(guess)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        }

        using (var header = new HttpRequestMessage(HttpMethod.Get, new Uri("/v1/catalog/services", UriKind.Relative)))
        {
            header.Headers.Add("X-Consul-Token", RegistryHost.AdminToken);
            (await workload.SendAsync(header)).StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        }

        (await workload.GetAsync(new Uri($"/v1/catalog/services?token={RegistryHost.AdminToken}", UriKind.Relative))).StatusCode
            .ShouldBe(HttpStatusCode.TooManyRequests);

        // The certificate alone still works: the workload keeps renewing and reading.
        (await workload.RegisterAsync("reviews", "r1", "http://10.0.0.1:80", version: null)).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await workload.GetAsync(new Uri("/v1/catalog/services", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK);
        certificate.Dispose();
    }

    [Fact]
    public async Task Honest_traffic_is_never_limited_and_does_not_use_up_the_allowance()
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await RegistryHost.StartAsync(time);
        var reviews = host.Client(RegistryHost.ReviewsToken);
        using var anonymous = new HttpClient { BaseAddress = host.Address };
        for (var i = 0; i < 300; i++)
        {
            (await reviews.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001")).StatusCode.ShouldBeOneOf(HttpStatusCode.Created, HttpStatusCode.OK);
            (await anonymous.GetAsync(Services)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized); // no token: not a guess
        }

        // A token the admin made that has expired is a late workload, not a guesser.
        var made = await JoinTokenTests.CreateAsync(host.Admin, """{ "service": "reviews", "ttl": "00:01:00" }""");
        time.Advance(TimeSpan.FromMinutes(2));
        using var late = new HttpClient { BaseAddress = host.Address };
        for (var i = 0; i < 100; i++)
        {
            (await SendAsync(late, made.GetProperty("token").GetString()!)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }

        // The whole allowance is still there.
        for (var i = 0; i < 60; i++)
        {
            (await SendAsync(anonymous, $"guess-{i}")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }

        (await SendAsync(anonymous, "guess-60")).StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
    }

    [Fact]
    public async Task The_real_registry_process_limits_a_guesser_and_serves_everyone_else()
    {
        var directory = Path.Combine(Path.GetTempPath(), "mesh-registry-tests", Guid.NewGuid().ToString("N"));
        try
        {
            await using var registry = await RegistryProcess.StartAsync(new Dictionary<string, string>
            {
                ["MeshRegistry__DataPath"] = Path.Combine(directory, "registry.db"),
                ["MeshRegistry__AdminToken"] = RegistryHost.AdminToken,
                ["MeshRegistry__FailedAuthLimit"] = "50",
            });
            using var guesser = registry.Client(null);
            var clock = Stopwatch.StartNew();
            var unauthorized = 0;
            HttpResponseMessage response;
            while ((response = await SendAsync(guesser, $"guess-{unauthorized}")).StatusCode == HttpStatusCode.Unauthorized && unauthorized < 1000)
            {
                response.Dispose();
                unauthorized++;
            }

            using (response)
            {
                response.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
                response.Headers.RetryAfter!.Delta!.Value.ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(1));
            }

            // 50 a minute, one back every 1.2 s while the loop ran.
            unauthorized.ShouldBeGreaterThanOrEqualTo(50);
            unauthorized.ShouldBeLessThanOrEqualTo(50 + (int)Math.Ceiling(clock.Elapsed.TotalSeconds / 1.2) + 1);
            using var neighbour = new HttpClient(From(IPAddress.Parse("127.0.0.3"))) { BaseAddress = registry.Address };
            (await SendAsync(neighbour, RegistryHost.AdminToken)).StatusCode.ShouldBe(HttpStatusCode.OK);
            registry.Output.ShouldContain("failed authentications");
        }
        finally
        {
            RegistryHost.DeleteDirectory(directory);
        }
    }

    [Fact]
    public async Task Invalid_limits_fail_the_start_with_their_paths()
    {
        var errors = await RegistryHost.StartupErrorsAsync(new Dictionary<string, string?>
        {
            ["MeshRegistry:FailedAuthLimit"] = "-1",
            ["MeshRegistry:FailedAuthWindow"] = "00:00:00",
        });
        errors.ShouldContain("MeshRegistry:FailedAuthLimit");
        errors.ShouldContain("MeshRegistry:FailedAuthWindow");
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Services);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await client.SendAsync(request);
    }

    /// <summary>A handler whose connections come from <paramref name="local"/> (another loopback address: another client).</summary>
    private static SocketsHttpHandler From(IPAddress local) => new()
    {
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.Bind(new IPEndPoint(local, 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };
}
