namespace Mesh.LoadBenchmarks;

/// <summary>What the variants and scenarios share: the backend process, the certificates, the nginx processes started.</summary>
internal sealed class BenchContext : IDisposable
{
    /// <summary>The backend's listeners: [0] plaintext, [1] mTLS, then the balancer's endpoints.</summary>
    public const int PlainListener = 0;
    public const int MtlsListener = 1;
    public const int BalancerFirstListener = 2;

    // Control requests to the backend (between rounds), on a connection of their own, outside every variant's pool.
    private static readonly HttpClient s_control = new(new SocketsHttpHandler { UseProxy = false });
    private readonly List<NginxProcess> _nginx = [];
    private GrpcBackendProcess? _grpc;
    private int _disposed;

    private BenchContext(string directory, TestPki pki, BackendProcess backend, int balancerEndpoints)
    {
        Directory = directory;
        Pki = pki;
        Backend = backend;
        BalancerEndpoints = balancerEndpoints;
    }

    public string Directory { get; }

    public TestPki Pki { get; }

    public BackendProcess Backend { get; }

    public int PlainPort => Backend.Ports[PlainListener];

    public int MtlsPort => Backend.Ports[MtlsListener];

    public Uri PlainUri => Variants.LocalUri(PlainPort);

    public int BalancerEndpoints { get; }

    /// <summary>Has the backend collect its garbage, as the load generator does before each round.</summary>
    public async Task CollectBackendGarbageAsync(CancellationToken cancellationToken)
    {
        using var response = await s_control.PostAsync(new Uri(PlainUri, "/collect"), content: null, cancellationToken);
        if (response.StatusCode != System.Net.HttpStatusCode.NoContent)
        {
            // Anything else (the 1 KB answer of GET /) means the backend did not collect.
            throw new InvalidOperationException($"the backend answered {(int)response.StatusCode} to POST /collect");
        }
    }

    /// <summary>The balancer's healthy endpoints (delay d), then the slow one (delay 10 d).</summary>
    public Uri BalancerUri(int i) => Variants.LocalUri(Backend.Ports[BalancerFirstListener + i]);

    public static async Task<BenchContext> StartAsync(int balancerEndpoints, int balancerDelayMs, CancellationToken cancellationToken)
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("mesh-load-").FullName;
        TestPki? pki = null;
        try
        {
            pki = TestPki.Create(directory);
            var listeners = new List<ListenerSpec> { new(false, 0), new(true, 0) };
            for (var i = 0; i < balancerEndpoints; i++)
            {
                listeners.Add(new ListenerSpec(false, balancerDelayMs));
            }

            listeners.Add(new ListenerSpec(false, 10 * balancerDelayMs));
            var backend = await BackendProcess.StartAsync(listeners, directory, cancellationToken);
            return new BenchContext(directory, pki, backend, balancerEndpoints);
        }
        catch
        {
            pki?.Dispose();
            System.IO.Directory.Delete(directory, recursive: true);
            throw;
        }
    }

    /// <summary>The gRPC cells' backend, started with the first of them (runs without gRPC cells never start it).</summary>
    public async Task<GrpcBackendProcess> GrpcBackendAsync(CancellationToken cancellationToken) =>
        _grpc ??= await GrpcBackendProcess.StartAsync(cancellationToken);

    public async Task<NginxProcess> StartNginxAsync(NginxProxySpec spec, CancellationToken cancellationToken)
    {
        var nginx = await NginxProcess.StartAsync(spec, Directory, Pki, cancellationToken);
        lock (_nginx)
        {
            _nginx.Add(nginx);
        }

        return nginx;
    }

    public void Dispose()
    {
        // Called at the end of Main and again on ProcessExit.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        lock (_nginx)
        {
            foreach (var nginx in _nginx)
            {
                nginx.Dispose();
            }

            _nginx.Clear();
        }

        Backend.Dispose();
        _grpc?.Dispose();
        Pki.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
