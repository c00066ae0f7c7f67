using Mesh.Testing;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Mesh.Registry.Benchmarks;

/// <summary>
/// What a run measures: one registry on its own SQLite file, or (<c>--store etcd</c>) a 3-member etcd cluster on
/// loopback and <see cref="Settings.Replicas"/> registry processes on it, all with the same key prefix, CA folder,
/// admin token and join tokens, so any of them answers for every service. Everything lives in one temporary folder;
/// disposing kills the registries, then etcd, and deletes the folder.
/// </summary>
internal sealed class RegistryDeployment : IDisposable
{
    private readonly string _directory;
    private readonly List<RegistryServer> _servers = [];
    private EtcdCluster? _etcd;
    private int _disposed;

    private RegistryDeployment(string directory, string adminToken, string[] joinTokens)
    {
        _directory = directory;
        AdminToken = adminToken;
        JoinTokens = joinTokens;
    }

    public IReadOnlyList<RegistryServer> Servers => _servers;

    public EtcdCluster? Etcd => _etcd;

    public string AdminToken { get; }

    /// <summary>The join token of service <c>svc{i}</c> at index i.</summary>
    public string[] JoinTokens { get; }

    public string Output
    {
        get
        {
            var text = new StringBuilder();
            foreach (var server in _servers)
            {
                text.Append("--- registry ").Append(server.Name).Append(" (").Append(server.Address).AppendLine(") ---").AppendLine(server.Output);
            }

            if (_etcd is not null)
            {
                text.Append(_etcd.Output);
            }

            return text.ToString();
        }
    }

    public static async Task<RegistryDeployment> StartAsync(Settings settings, string dll, TextWriter log, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(Path.GetTempPath(), "mesh-registry-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var admin = "bench-admin-" + Token();
        var join = Enumerable.Range(0, settings.Services).Select(i => $"bench-join-{i.ToString(CultureInfo.InvariantCulture)}-{Token()}").ToArray();
        var deployment = new RegistryDeployment(directory, admin, join);
        try
        {
            var shared = new Dictionary<string, string>(StringComparer.Ordinal) { ["MeshRegistry__AdminToken"] = admin };
            for (var i = 0; i < settings.Services; i++)
            {
                shared["MeshRegistry__JoinTokens__" + RegistryServer.ServiceName(i)] = join[i];
            }

            if (settings.IsEtcd)
            {
                var etcd = deployment._etcd = await EtcdCluster.StartAsync(settings.EtcdMembers, productionTimings: true, directory: Path.Combine(directory, "etcd"),
                    cancellationToken: cancellationToken);
                log.WriteLine($"etcd: {settings.EtcdMembers} members at {string.Join(", ", etcd.ClientEndpoints)} (pids {string.Join(", ", Enumerable.Range(0, etcd.Count).Select(etcd.ProcessId))})");
                shared["MeshRegistry__Store"] = "Etcd";
                for (var i = 0; i < etcd.ClientEndpoints.Count; i++)
                {
                    shared[$"MeshRegistry__Etcd__Endpoints__{i.ToString(CultureInfo.InvariantCulture)}"] = etcd.ClientEndpoints[i].ToString().TrimEnd('/');
                }

                shared["MeshRegistry__Etcd__Prefix"] = "/mesh-registry-bench/";
                shared["MeshRegistry__Etcd__RequestTimeout"] = "00:00:05";
                shared["MeshRegistry__CaPath"] = Path.Combine(directory, "ca");
            }

            // One at a time: the first replica makes the CA in the shared folder, the others find it there.
            for (var r = 0; r < settings.Replicas; r++)
            {
                var name = "r" + r.ToString(CultureInfo.InvariantCulture);
                var folder = Path.Combine(directory, name);
                var environment = new Dictionary<string, string>(shared, StringComparer.Ordinal)
                {
                    ["MeshRegistry__DataPath"] = Path.Combine(folder, "registry.db"),
                };
                deployment._servers.Add(await RegistryServer.StartAsync(name, dll, folder, environment, cancellationToken));
            }

            return deployment;
        }
        catch
        {
            deployment.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var server in _servers)
        {
            server.Dispose();
        }

        _etcd?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException ex)
        {
            Console.Error.WriteLine($"Could not delete {_directory}: {ex.Message}");
        }
        catch (UnauthorizedAccessException ex)
        {
            Console.Error.WriteLine($"Could not delete {_directory}: {ex.Message}");
        }
    }

    private static string Token() => Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
}
