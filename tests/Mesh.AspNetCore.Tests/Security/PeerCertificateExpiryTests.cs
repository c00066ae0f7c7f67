using System.Net;
using Mesh.Client;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.AspNetCore.Tests.Security;

/// <summary>
/// A caller is its certificate's service only while the certificate is valid: the handshake checks it once, and a
/// connection kept busy lives as long as its caller likes (Kestrel closes idle connections only). So a connection
/// ends when its client certificate expires, and the next one needs a valid certificate; otherwise a stolen key
/// would keep its identity past the certificate's lifetime, and past the root rotation that waits that lifetime out.
/// </summary>
public sealed class PeerCertificateExpiryTests : IDisposable
{
    private readonly TestCertificateAuthority _ca = new();

    public void Dispose() => _ca.Dispose();

    [Fact]
    public async Task A_client_certificate_valid_for_longer_than_a_timer_can_wait_is_served()
    {
        // System timers wait at most about 49.7 days; a CA may issue for longer.
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddMesh(o =>
        {
            o.Service.Name = "reviews";
            o.Security.Mode = MeshSecurityMode.Strict;
        });
        builder.Services.AddTestCertificateAuthority(_ca, "reviews");
        await using var app = builder.Build();
        app.UseMesh();
        app.MapGet("/whoami", (HttpContext c) => c.User.Identity?.Name);
        await app.StartAsync();
        var port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;

        using var certificate = _ca.IssueWorkload("productpage", TimeSpan.FromDays(400));
        using var http = new HttpClient(_ca.CreateDirectHandler(certificate, "reviews")) { BaseAddress = new Uri($"https://127.0.0.1:{port}/") };
        (await http.GetStringAsync(new Uri("/whoami", UriKind.Relative))).ShouldBe("productpage");
        await app.StopAsync();
    }

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task A_connection_ends_when_its_client_certificate_expires(string version)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddMesh(o =>
        {
            o.Service.Name = "reviews";
            o.Security.Mode = MeshSecurityMode.Strict;
        });
        builder.Services.AddTestCertificateAuthority(_ca, "reviews", TimeSpan.FromDays(30));
        await using var app = builder.Build();
        app.UseMesh();
        var calls = 0;
        app.MapGet("/whoami", (HttpContext c) =>
        {
            Interlocked.Increment(ref calls);
            return c.User.Identity?.Name;
        });
        await app.StartAsync();
        var port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;

        using var certificate = _ca.IssueWorkload("productpage", TimeSpan.FromHours(1));
        using var http = new HttpClient(_ca.CreateDirectHandler(certificate, "reviews", maxConnectionsPerServer: 1))
        {
            BaseAddress = new Uri($"https://127.0.0.1:{port}/"),
            DefaultRequestVersion = Version.Parse(version),
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        (await http.GetStringAsync(new Uri("/whoami", UriKind.Relative))).ShouldBe("productpage");

        time.Advance(TimeSpan.FromHours(2));

        // The open connection is gone, and a new one with the expired certificate is refused.
        await Should.ThrowAsync<HttpRequestException>(() => http.GetStringAsync(new Uri("/whoami", UriKind.Relative)));
        calls.ShouldBe(1);
        await app.StopAsync();
    }
}
