using System.Diagnostics.Metrics;
using Mesh.Client;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.IntegrationTests;

/// <summary>
/// A mirror copy carries <c>Host: {service}-shadow</c>, and the TLS target is the Host: the copy must still present
/// the workload's certificate to the mirror and hold it to the service's identity, or every copy to an mTLS endpoint
/// fails its handshake.
/// </summary>
public sealed class MirrorTlsTests : IDisposable
{
    private readonly TestCertificateAuthority _ca = new();

    public void Dispose() => _ca.Dispose();

    [Fact]
    public async Task A_mirror_copy_reaches_an_mtls_endpoint_as_the_service_it_copies()
    {
        await using var reviews = await StartServiceAsync("reviews", MeshSecurityMode.Strict);
        var map = new Dictionary<string, object>
        {
            ["reviews"] = new
            {
                Endpoints = new[] { new { Address = Https(reviews).ToString(), Labels = new { version = "v1" } } },
                Subsets = new { v1 = new { version = "v1" } },
                Routes = new object[] { new { Name = "default", Destinations = new object[] { new { Subset = "v1", Weight = 100 } }, Mirror = new { Subset = "v1", Percentage = 100 } } },
            },
        };
        await using var client = MeshTestClient.Create(new { Service = new { Name = "productpage" }, Security = new { Mode = "Strict" }, Services = map },
            configure: s => s.AddTestCertificateAuthority(_ca, "productpage"));
        using var mirrors = new MetricCollector<long>(client.GetService<IMeterFactory>(), "Mesh.Client", "mesh.mirror.requests");
        (await client.Client.GetStringAsync(new Uri("http://reviews/who"))).ShouldStartWith("reviews: productpage");
        await Poll.UntilAsync(() => mirrors.GetMeasurementSnapshot().Count > 0, because: "the mirror settles");
        mirrors.GetMeasurementSnapshot().Single().Tags["result"].ShouldBe("sent");
        reviews.Requests.ShouldBe(2);
    }

    private static Uri Https(TestBackend backend) => new($"https://127.0.0.1:{backend.Address.Port}/");

    private Task<TestBackend> StartServiceAsync(string name, MeshSecurityMode mode) =>
        TestBackend.StartAsync(name,
            handler: context =>
            {
                var who = context.User.Identity?.IsAuthenticated == true ? context.User.Identity.Name : "anonymous";
                return context.Response.WriteAsync($"{name}: {who}");
            },
            services: services =>
            {
                services.AddMesh(o =>
                {
                    o.Service.Name = name;
                    o.Security.Mode = mode;
                });
                services.AddTestCertificateAuthority(_ca, name);
            },
            configure: app => app.UseMesh());
}
