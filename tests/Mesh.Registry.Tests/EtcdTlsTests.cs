using System.Net;
using Mesh.Registry.Store;
using Mesh.Testing;
using Xunit.Abstractions;

namespace Mesh.Registry.Tests;

/// <summary>
/// The registry on an etcd cluster that serves clients over TLS only and requires client certificates
/// (<c>MeshRegistry:Etcd:TrustedCaFile</c>, <c>ClientCertificateFile</c>, <c>ClientKeyFile</c>).
/// </summary>
public sealed class EtcdTlsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private EtcdCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await EtcdCluster.StartAsync(tls: true);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task A_registry_with_the_clusters_ca_and_a_client_certificate_registers_and_reads_instances()
    {
        var tls = _cluster.Tls!;
        _cluster.ClientEndpoints.ShouldAllBe(e => e.Scheme == "https");
        await using var host = await RegistryHost.StartAsync(etcd: _cluster, configure: s =>
        {
            s["MeshRegistry:Etcd:TrustedCaFile"] = tls.CaFile;
            s["MeshRegistry:Etcd:ClientCertificateFile"] = tls.ClientCertificateFile;
            s["MeshRegistry:Etcd:ClientKeyFile"] = tls.ClientKeyFile;
        });

        (await host.Admin.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001")).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await host.Admin.InstanceIdsAsync("reviews")).ShouldBe(["r1"]);

        // What it wrote is on the cluster: a restarted registry loads it back over TLS.
        await host.RestartAsync();
        (await host.Admin.InstanceIdsAsync("reviews")).ShouldBe(["r1"]);
    }

    [Fact]
    public async Task A_registry_without_a_client_certificate_fails_to_start_naming_etcd()
    {
        var tls = _cluster.Tls!;
        var error = await StartFailureAsync(s => s["MeshRegistry:Etcd:TrustedCaFile"] = tls.CaFile);
        error.ShouldStartWith("etcd ");
        error.ShouldContain("etcd ended the TLS connection");
        error.ShouldContain("MeshRegistry:Etcd:ClientCertificateFile is not set");
    }

    [Fact]
    public async Task A_registry_trusting_another_ca_fails_to_start_naming_the_certificate_it_refused()
    {
        var tls = _cluster.Tls!;
        var other = EtcdTls.Create(Path.Combine(_cluster.Directory, "other"));
        var error = await StartFailureAsync(s =>
        {
            s["MeshRegistry:Etcd:TrustedCaFile"] = other.CaFile;
            s["MeshRegistry:Etcd:ClientCertificateFile"] = tls.ClientCertificateFile;
            s["MeshRegistry:Etcd:ClientKeyFile"] = tls.ClientKeyFile;
        });
        error.ShouldStartWith("etcd failed a read of the registry's state: the TLS handshake with etcd failed: ");
        error.ShouldContain($"the member's certificate (CN=127.0.0.1, issued by CN=meshlib etcd test CA) does not chain to the CA in MeshRegistry:Etcd:TrustedCaFile ({other.CaFile})");
    }

    [Fact]
    public async Task A_registry_whose_certificate_another_ca_signed_fails_to_start_naming_etcd()
    {
        var tls = _cluster.Tls!;
        var other = EtcdTls.Create(Path.Combine(_cluster.Directory, "other"));
        var error = await StartFailureAsync(s =>
        {
            s["MeshRegistry:Etcd:TrustedCaFile"] = tls.CaFile;
            s["MeshRegistry:Etcd:ClientCertificateFile"] = other.ClientCertificateFile;
            s["MeshRegistry:Etcd:ClientKeyFile"] = other.ClientKeyFile;
        });
        error.ShouldStartWith("etcd ");
        error.ShouldContain("etcd ended the TLS connection");
        error.ShouldContain($"is {other.ClientCertificateFile} signed by a CA the members trust?");
    }

    [Fact]
    public async Task A_registry_without_the_clusters_ca_fails_to_start_asking_for_it()
    {
        var tls = _cluster.Tls!;
        var error = await StartFailureAsync(s =>
        {
            s["MeshRegistry:Etcd:ClientCertificateFile"] = tls.ClientCertificateFile;
            s["MeshRegistry:Etcd:ClientKeyFile"] = tls.ClientKeyFile;
        });
        error.ShouldContain("the TLS handshake with etcd failed: the member's certificate (CN=127.0.0.1, issued by CN=meshlib etcd test CA) is not trusted by this machine; set MeshRegistry:Etcd:TrustedCaFile to the CA that signed it");
    }

    [Fact]
    public async Task A_registry_on_a_cluster_that_is_down_fails_to_start_asking_whether_a_quorum_is_up()
    {
        var tls = _cluster.Tls!;
        _cluster.Kill(0);
        var error = await StartFailureAsync(s =>
        {
            s["MeshRegistry:Etcd:TrustedCaFile"] = tls.CaFile;
            s["MeshRegistry:Etcd:ClientCertificateFile"] = tls.ClientCertificateFile;
            s["MeshRegistry:Etcd:ClientKeyFile"] = tls.ClientKeyFile;
        });
        // No connection was made, so nothing about TLS or certificates is blamed. Whether gRPC gives up at once on the
        // refused connection or at the deadline, the error names the read and asks about the quorum.
        error.ShouldStartWith("etcd ");
        error.ShouldContain("a read of the registry's state");
        error.ShouldEndWith("(is a quorum of its members up?)");
        error.ShouldNotContain("TLS");
        error.ShouldNotContain("certificate");
    }

    /// <summary>Starts a registry on the cluster with <paramref name="configure"/>'s settings, which must fail, and gives the error's messages.</summary>
    private async Task<string> StartFailureAsync(Action<Dictionary<string, string?>> configure)
    {
        var exception = await Should.ThrowAsync<RegistryStoreUnavailableException>(() => RegistryHost.StartAsync(etcd: _cluster, configure: s =>
        {
            s["MeshRegistry:Etcd:RequestTimeout"] = "00:00:03";
            configure(s);
        }));
        var messages = string.Join(" <- ", Chain(exception).Select(e => $"{e.GetType().Name}: {e.Message}"));
        output.WriteLine(messages);
        return exception.Message;
    }

    private static IEnumerable<Exception> Chain(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            yield return e;
        }
    }
}
