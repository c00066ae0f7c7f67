using System.Net;
using System.Text;
using Authpb;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Mesh.Registry.Store;
using Mesh.Testing;
using Xunit.Abstractions;

namespace Mesh.Registry.Tests;

/// <summary>
/// The registry on an etcd cluster with authentication on (<c>MeshRegistry:Etcd:Username</c>, <c>Password</c>): users
/// whose roles grant readwrite on the registry's prefix, read only on it, or readwrite on another prefix only.
/// </summary>
public sealed class EtcdAuthTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Prefix = "/meshlib-test/auth/";
    private const string OtherPrefix = "/meshlib-test/other/";
    private const string MeshPassword = "mesh-password-0123";

    private EtcdCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        _cluster = await EtcdCluster.StartAsync();
        using var etcd = new EtcdClient(_cluster.ConnectionString);
        await etcd.UserAddAsync(new AuthUserAddRequest { Name = "root", Password = "root-password-0123" });
        await etcd.UserGrantRoleAsync(new AuthUserGrantRoleRequest { User = "root", Role = "root" });
        await AddUserAsync(etcd, "mesh", MeshPassword, Permission.Types.Type.Readwrite, Prefix);
        await AddUserAsync(etcd, "reader", MeshPassword, Permission.Types.Type.Read, Prefix);
        await AddUserAsync(etcd, "stranger", MeshPassword, Permission.Types.Type.Readwrite, OtherPrefix);
        await etcd.AuthEnableAsync(new AuthEnableRequest());
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task A_registry_with_a_user_granted_its_prefix_registers_reads_and_writes_policies()
    {
        await using var host = await StartAsync("mesh", MeshPassword);

        (await host.Admin.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001")).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await host.Admin.InstanceIdsAsync("reviews")).ShouldBe(["r1"]);
        using (var policy = await PutPolicyAsync(host))
        {
            policy.StatusCode.ShouldBe(HttpStatusCode.OK, await policy.Content.ReadAsStringAsync());
        }

        (await host.Admin.GetJsonAsync("/v1/policies/reviews")).GetProperty("version").GetInt64().ShouldBe(1);

        // The cluster refuses the same reads to a client without credentials: the registry's were what let it in.
        using var anonymous = new EtcdClient(_cluster.ConnectionString);
        var refused = await Should.ThrowAsync<Grpc.Core.RpcException>(() => anonymous.GetRangeAsync(Prefix));
        refused.StatusCode.ShouldBe(Grpc.Core.StatusCode.InvalidArgument, refused.Status.Detail);
    }

    [Fact]
    public async Task A_wrong_password_fails_the_start_naming_etcd_authentication()
    {
        var exception = await Should.ThrowAsync<RegistryStoreUnavailableException>(() => StartAsync("mesh", "not-the-password"));
        output.WriteLine(exception.ToString());
        exception.Message.ShouldBe(
            "etcd failed a read of the registry's state: etcd authentication failed for user mesh: etcdserver: authentication failed, invalid user ID or password " +
            "(check MeshRegistry:Etcd:Username and Password)");
    }

    [Fact]
    public async Task A_registry_without_credentials_fails_the_start_naming_etcd_authentication()
    {
        var exception = await Should.ThrowAsync<RegistryStoreUnavailableException>(() =>
            RegistryHost.StartAsync(etcd: _cluster, etcdPrefix: Prefix, configure: s => s["MeshRegistry:Etcd:RequestTimeout"] = "00:00:03"));
        output.WriteLine(exception.ToString());
        exception.Message.ShouldBe(
            "etcd failed a read of the registry's state: etcd authentication is on, and MeshRegistry:Etcd:Username and Password are not set " +
            "(etcdserver: user name is empty)");
    }

    [Fact]
    public async Task A_user_granted_another_prefix_only_fails_the_start_naming_the_permission()
    {
        var exception = await Should.ThrowAsync<RegistryStoreUnavailableException>(() => StartAsync("stranger", MeshPassword));
        output.WriteLine(exception.ToString());
        exception.Message.ShouldBe(
            $"etcd refused a read of the registry's state: etcdserver: permission denied (the etcd user stranger needs a role granting readwrite on the keys under {Prefix})");
    }

    [Fact]
    public async Task A_user_who_may_only_read_the_prefix_starts_but_its_writes_answer_503_naming_the_permission()
    {
        await using var host = await StartAsync("reader", MeshPassword);

        using var registration = await host.Admin.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001");
        var problem = await registration.ProblemAsync(HttpStatusCode.ServiceUnavailable);
        output.WriteLine(problem);
        problem.ShouldContain("etcdserver: permission denied (the etcd user reader needs a role granting readwrite on the keys under /meshlib-test/auth/)");

        using var policy = await PutPolicyAsync(host);
        (await policy.ProblemAsync(HttpStatusCode.ServiceUnavailable)).ShouldContain("etcd refused");

        // Nothing was written: the reads it may make still show an empty registry.
        (await host.Admin.InstanceIdsAsync("reviews")).ShouldBeEmpty();
    }

    private Task<RegistryHost> StartAsync(string user, string password) =>
        RegistryHost.StartAsync(etcd: _cluster, etcdPrefix: Prefix, configure: s =>
        {
            s["MeshRegistry:Etcd:Username"] = user;
            s["MeshRegistry:Etcd:Password"] = password;
            s["MeshRegistry:Etcd:RequestTimeout"] = "00:00:03";
        });

    private static async Task<HttpResponseMessage> PutPolicyAsync(RegistryHost host)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, new Uri("/v1/policies/reviews", UriKind.Relative))
        {
            Content = Api.Json("""{ "LoadBalancer": { "Policy": "RoundRobin" } }"""),
        };
        return await host.Admin.SendAsync(request);
    }

    /// <summary>Adds user <paramref name="name"/> with a role of its own granting <paramref name="permission"/> on every key under <paramref name="prefix"/>.</summary>
    private static async Task AddUserAsync(EtcdClient etcd, string name, string password, Permission.Types.Type permission, string prefix)
    {
        var role = $"{name}-role";
        await etcd.RoleAddAsync(new AuthRoleAddRequest { Name = role });
        var key = Encoding.UTF8.GetBytes(prefix);
        var end = (byte[])key.Clone();
        end[^1]++; // the range of every key that starts with the prefix
        await etcd.RoleGrantPermissionAsync(new AuthRoleGrantPermissionRequest
        {
            Name = role,
            Perm = new Permission { PermType = permission, Key = ByteString.CopyFrom(key), RangeEnd = ByteString.CopyFrom(end) },
        });
        await etcd.UserAddAsync(new AuthUserAddRequest { Name = name, Password = password });
        await etcd.UserGrantRoleAsync(new AuthUserGrantRoleRequest { User = name, Role = role });
    }
}
