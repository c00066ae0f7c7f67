using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary>The <c>MeshRegistry:Etcd</c> keys are checked at start, each error with its path, all reported together.</summary>
public sealed class EtcdOptionTests
{
    [Fact]
    public async Task Every_error_in_the_etcd_keys_is_reported_with_its_path()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"mesh-etcd-absent-{Guid.NewGuid():N}.pem");
        var errors = await RegistryHost.StartupErrorsAsync(new Dictionary<string, string?>
        {
            ["MeshRegistry:Store"] = "Etcd",
            ["MeshRegistry:Etcd:Endpoints:0"] = "http://10.0.0.1",
            ["MeshRegistry:Etcd:Endpoints:1"] = "ftp://10.0.0.2:2379",
            ["MeshRegistry:Etcd:Endpoints:2"] = "http://10.0.0.3:2379/v3",
            ["MeshRegistry:Etcd:Prefix"] = "meshlib",
            ["MeshRegistry:Etcd:Username"] = "mesh",
            ["MeshRegistry:Etcd:TrustedCaFile"] = missing,
            ["MeshRegistry:Etcd:ClientCertificateFile"] = missing,
            ["MeshRegistry:Etcd:RequestTimeout"] = "00:00:00.05",
        });

        errors.ShouldContain("MeshRegistry:Etcd:Endpoints:0: 'http://10.0.0.1' must be http://host:port or https://host:port");
        errors.ShouldContain("MeshRegistry:Etcd:Endpoints:1: 'ftp://10.0.0.2:2379' must be http://host:port or https://host:port");
        errors.ShouldContain("MeshRegistry:Etcd:Endpoints:2: 'http://10.0.0.3:2379/v3' must be http://host:port or https://host:port");
        errors.ShouldContain("MeshRegistry:Etcd:Prefix: 'meshlib' must start and end with '/', such as /meshlib/");
        errors.ShouldContain("MeshRegistry:Etcd:Username: Username and Password go together");
        errors.ShouldContain("MeshRegistry:Etcd:ClientCertificateFile: ClientCertificateFile and ClientKeyFile go together");
        errors.ShouldContain($"MeshRegistry:Etcd:TrustedCaFile: '{missing}' does not exist");
        errors.ShouldContain($"MeshRegistry:Etcd:ClientCertificateFile: '{missing}' does not exist");
        errors.ShouldContain("MeshRegistry:Etcd:RequestTimeout: 00:00:00.0500000 must be between 00:00:00.1 and 00:01:00");
        errors.ShouldContain("MeshRegistry:CaPath: required with the etcd store");

        // An endpoint that is not a URL at all is its own error, not also a mix of schemes.
        errors.ShouldNotContain("mixes http and https");
    }

    [Fact]
    public async Task Without_endpoints_the_etcd_store_does_not_start()
    {
        var errors = await RegistryHost.StartupErrorsAsync(new Dictionary<string, string?>
        {
            ["MeshRegistry:Store"] = "Etcd",
            ["MeshRegistry:CaPath"] = Path.GetTempPath(),
        });
        errors.ShouldContain("MeshRegistry:Etcd:Endpoints: required when MeshRegistry:Store is Etcd");
    }

    [Fact]
    public async Task Endpoints_of_both_schemes_are_refused()
    {
        var errors = await RegistryHost.StartupErrorsAsync(new Dictionary<string, string?>
        {
            ["MeshRegistry:Store"] = "Etcd",
            ["MeshRegistry:CaPath"] = Path.GetTempPath(),
            ["MeshRegistry:Etcd:Endpoints:0"] = "http://10.0.0.1:2379",
            ["MeshRegistry:Etcd:Endpoints:1"] = "HTTPS://10.0.0.2:2379",
            ["MeshRegistry:Etcd:Password"] = "secret",
            ["MeshRegistry:Etcd:ClientKeyFile"] = typeof(EtcdOptionTests).Assembly.Location,
            ["MeshRegistry:Etcd:RequestTimeout"] = "00:02:00",
        });
        errors.ShouldContain("MeshRegistry:Etcd:Endpoints: mixes http and https; a cluster speaks one");
        errors.ShouldContain("MeshRegistry:Etcd:Username: Username and Password go together");
        errors.ShouldContain("MeshRegistry:Etcd:ClientCertificateFile: ClientCertificateFile and ClientKeyFile go together");
        errors.ShouldContain("MeshRegistry:Etcd:RequestTimeout: 00:02:00 must be between 00:00:00.1 and 00:01:00");
        errors.ShouldNotContain("does not exist");
        errors.ShouldNotContain("MeshRegistry:CaPath");
    }

    [Fact]
    public async Task Tls_files_with_http_endpoints_are_refused()
    {
        var file = typeof(EtcdOptionTests).Assembly.Location;
        var errors = await RegistryHost.StartupErrorsAsync(new Dictionary<string, string?>
        {
            ["MeshRegistry:Store"] = "Etcd",
            ["MeshRegistry:CaPath"] = Path.GetTempPath(),
            ["MeshRegistry:Etcd:Endpoints:0"] = "http://10.0.0.1:2379",
            ["MeshRegistry:Etcd:TrustedCaFile"] = file,
            ["MeshRegistry:Etcd:ClientCertificateFile"] = file,
            ["MeshRegistry:Etcd:ClientKeyFile"] = file,
        });
        foreach (var key in new[] { "TrustedCaFile", "ClientCertificateFile", "ClientKeyFile" })
        {
            errors.ShouldContain($"MeshRegistry:Etcd:{key}: set, but the endpoints are http://; TLS files are used with https:// endpoints only");
        }
    }

    [Theory]
    [InlineData("/meshlib")]
    [InlineData("meshlib/")]
    [InlineData("/mesh//lib/")]
    [InlineData("")]
    public async Task A_prefix_that_is_not_a_folder_of_keys_is_refused(string prefix)
    {
        var errors = await RegistryHost.StartupErrorsAsync(new Dictionary<string, string?>
        {
            ["MeshRegistry:Store"] = "Etcd",
            ["MeshRegistry:CaPath"] = Path.GetTempPath(),
            ["MeshRegistry:Etcd:Endpoints:0"] = "https://10.0.0.1:2379",
            ["MeshRegistry:Etcd:Prefix"] = prefix,
        });
        errors.ShouldContain($"MeshRegistry:Etcd:Prefix: '{prefix}' must start and end with '/', such as /meshlib/");
    }

    [Fact]
    public async Task The_etcd_keys_are_not_checked_on_sqlite()
    {
        await using var host = await RegistryHost.StartAsync(configure: s =>
        {
            s.Remove("MeshRegistry:Store");
            s["MeshRegistry:Etcd:Prefix"] = "meshlib";
            s["MeshRegistry:Etcd:RequestTimeout"] = "00:00:00";
        });
        host.App.ShouldNotBeNull();
    }
}
