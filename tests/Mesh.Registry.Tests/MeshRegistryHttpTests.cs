using System.Net;
using Mesh.Client;
using Mesh.Registry.Ca;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Registry.Tests;

/// <summary><see cref="MeshRegistryHttp"/>: the public way tools reach the registry, pinned as workloads are.</summary>
public sealed class MeshRegistryHttpTests
{
    [Fact]
    public async Task Reaches_the_registry_through_the_pinned_CA_and_names_its_trust_domain()
    {
        await using var host = await RegistryHost.StartAsync(https: true);
        var ca = host.App.Services.GetRequiredService<CertificateAuthority>();
        var registry = new MeshRegistryOptions { Url = host.Address, CaFingerprint = ca.ActiveRootFingerprint, Token = RegistryHost.AdminToken };

        using (var pinned = new HttpClient(MeshRegistryHttp.CreateHandler(registry)) { BaseAddress = host.Address })
        {
            using var answer = await pinned.GetAsync(new Uri("/v1/services", UriKind.Relative));
            answer.StatusCode.ShouldBe(HttpStatusCode.OK, "the token in the options rides along");
        }

        // The registry's certificate names spiffe://mesh.local/registry: a tool of another trust domain must refuse it.
        using var elsewhere = new HttpClient(MeshRegistryHttp.CreateHandler(registry, trustDomain: "other.example")) { BaseAddress = host.Address };
        await Should.ThrowAsync<HttpRequestException>(() => elsewhere.GetAsync(new Uri("/v1/services", UriKind.Relative)));
    }

    [Fact]
    public void Reads_a_CA_file_or_says_what_is_wrong_with_it()
    {
        var missing = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("n") + ".pem");

        MeshRegistryHttp.ReadCaFile(missing, out var problem).ShouldBeNull();
        problem.ShouldContain(missing);
        MeshRegistryHttp.IsLoopback(new Uri("http://127.0.0.2:7400")).ShouldBeTrue();
        MeshRegistryHttp.IsLoopback(new Uri("http://api.localhost:7400")).ShouldBeTrue();
        MeshRegistryHttp.IsLoopback(new Uri("http://10.0.0.1:7400")).ShouldBeFalse();
    }
}
