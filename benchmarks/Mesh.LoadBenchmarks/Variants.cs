namespace Mesh.LoadBenchmarks;

/// <summary>
/// One way of calling the backend. <see cref="Floor"/> names the variant its added latency is measured against (the
/// plain floor is <c>direct</c>, the mTLS floor <c>direct-mtls</c>); a variant without <see cref="Prepare"/> is a
/// slot still to be filled, reported as pending with <see cref="PendingReason"/>. <see cref="ProfileOnly"/> variants
/// run with <c>--profile</c> (or when named with <c>--only</c>): they take the mesh apart to show where its cost is.
/// <see cref="Grpc"/> variants make one unary gRPC call per request instead of <c>GET /</c>, to the gRPC backend;
/// <c>--skip-grpc</c> leaves them out.
/// </summary>
internal sealed record Variant(
    string Name,
    string? Floor,
    string Description,
    Func<BenchContext, CancellationToken, Task<PreparedVariant>>? Prepare,
    string? PendingReason = null,
    bool ProfileOnly = false,
    bool Grpc = false);

/// <summary>A variant ready to run: a new client per cell, and the proxies' CPU and TLS handshake counters if any.</summary>
internal sealed class PreparedVariant
{
    public required Func<BenchClient> NewClient { get; init; }

    /// <summary>Whether the caller's own connections are TLS (so each one is a handshake).</summary>
    public bool ClientLegTls { get; init; }

    /// <summary>The proxies of this variant, in the order a request passes them.</summary>
    public IReadOnlyList<NginxProcess> Proxies { get; init; } = [];

    /// <summary>The proxies that terminate TLS: each connection they accept is a handshake.</summary>
    public IReadOnlyList<NginxProcess> TlsListeners { get; init; } = [];

    /// <summary>A gRPC variant's backend (its CPU, its garbage collection, its call counts); null for HTTP variants.</summary>
    public GrpcBackendProcess? GrpcBackend { get; init; }

    /// <summary>
    /// The gRPC backend's listeners this variant's calls must arrive at (<see cref="GrpcBackendProcess"/>): every
    /// call a round completes is counted on one of them, and none on any other, or the run fails.
    /// </summary>
    public IReadOnlyList<int> GrpcListeners { get; init; } = [];

    public TimeSpan ProxyCpu()
    {
        var total = TimeSpan.Zero;
        foreach (var proxy in Proxies)
        {
            total += proxy.CpuTime();
        }

        return total;
    }

    public async Task<long> TlsListenerAcceptsAsync(CancellationToken cancellationToken)
    {
        long total = 0;
        foreach (var proxy in TlsListeners)
        {
            total += await proxy.AcceptedConnectionsAsync(cancellationToken);
        }

        return total;
    }
}

/// <summary>Every variant of the run, in the order they are measured. Adding one is adding one entry here.</summary>
internal static class Variants
{
    public static readonly Variant[] All =
    [
        new("direct", null, "HttpClient → backend (the floor)",
            (ctx, _) => Task.FromResult(new PreparedVariant { NewClient = () => BenchClient.Direct(ctx.PlainUri, tls: null) })),

        new("mesh", "direct", "meshed HttpClient (AddMeshClient, static endpoint, default policy) → backend",
            (ctx, _) => Task.FromResult(new PreparedVariant { NewClient = () => BenchClient.Mesh([ctx.PlainUri]) })),

        // direct-rewrite does only what a naive client-side router does per request (a new URI to the endpoint, the
        // Host header, one async layer), in every run: the mesh keeps rewritten URIs for repeated paths, so it should
        // spend less than it. mesh-lean (the profile's) is the mesh with its resilience off (no retries, circuit
        // breaker or outlier detection, round robin): mesh − mesh-lean is what resilience costs, mesh-lean −
        // direct-rewrite the rest of the pipeline.
        new("direct-rewrite", "direct", "HttpClient → a handler that only rewrites the URI and sets Host → backend",
            (ctx, _) => Task.FromResult(new PreparedVariant { NewClient = () => BenchClient.Rewrite(ctx.PlainUri) })),

        new("mesh-lean", "direct", "meshed HttpClient with retries, circuit breaker and outlier detection off, RoundRobin → backend",
            (ctx, _) => Task.FromResult(new PreparedVariant
            {
                NewClient = () => BenchClient.Mesh([ctx.PlainUri], s =>
                {
                    s["Mesh:Services:backend:LoadBalancer:Policy"] = "RoundRobin";
                    s["Mesh:Services:backend:Routes:0:Name"] = "default";
                    s["Mesh:Services:backend:Routes:0:Retry:Attempts"] = "0";
                    s["Mesh:Services:backend:CircuitBreaker:Enabled"] = "false";
                    s["Mesh:Services:backend:OutlierDetection:Consecutive5xxErrors"] = "0";
                }),
            }),
            ProfileOnly: true),

        new("nginx", "direct", "HttpClient → nginx → backend (one proxy hop)",
            async (ctx, ct) =>
            {
                var proxy = await ctx.StartNginxAsync(new NginxProxySpec("one-hop", ctx.PlainPort, ListenMtls: false, UpstreamMtls: false), ct);
                return new PreparedVariant { NewClient = () => BenchClient.Direct(LocalUri(proxy.Port), tls: null), Proxies = [proxy] };
            }),

        new("nginx-pair", "direct", "HttpClient → nginx → nginx → backend (the sidecar pair)",
            async (ctx, ct) =>
            {
                var server = await ctx.StartNginxAsync(new NginxProxySpec("pair-server", ctx.PlainPort, ListenMtls: false, UpstreamMtls: false), ct);
                var client = await ctx.StartNginxAsync(new NginxProxySpec("pair-client", server.Port, ListenMtls: false, UpstreamMtls: false), ct);
                return new PreparedVariant { NewClient = () => BenchClient.Direct(LocalUri(client.Port), tls: null), Proxies = [client, server] };
            }),

        new("direct-mtls", null, "HttpClient with a client certificate → backend (Kestrel TLS, client certificate required): the mTLS floor",
            (ctx, _) => Task.FromResult(new PreparedVariant
            {
                NewClient = () => BenchClient.Direct(TlsUri(ctx.MtlsPort), ctx.Pki.ClientOptions()),
                ClientLegTls = true,
            })),

        new("nginx-mtls", "direct-mtls", "HttpClient with a client certificate → nginx (TLS, client certificate verified) → backend",
            async (ctx, ct) =>
            {
                var proxy = await ctx.StartNginxAsync(new NginxProxySpec("mtls-hop", ctx.PlainPort, ListenMtls: true, UpstreamMtls: false), ct);
                return new PreparedVariant
                {
                    NewClient = () => BenchClient.Direct(TlsUri(proxy.Port), ctx.Pki.ClientOptions()),
                    ClientLegTls = true,
                    Proxies = [proxy],
                    TlsListeners = [proxy],
                };
            }),

        new("nginx-pair-mtls", "direct-mtls", "HttpClient → nginx ⇒ mTLS ⇒ nginx → backend (a sidecar mesh's mTLS: plaintext to and from the local proxies)",
            async (ctx, ct) =>
            {
                var server = await ctx.StartNginxAsync(new NginxProxySpec("mtls-pair-server", ctx.PlainPort, ListenMtls: true, UpstreamMtls: false), ct);
                var client = await ctx.StartNginxAsync(new NginxProxySpec("mtls-pair-client", server.Port, ListenMtls: false, UpstreamMtls: true), ct);
                return new PreparedVariant
                {
                    NewClient = () => BenchClient.Direct(LocalUri(client.Port), tls: null),
                    Proxies = [client, server],
                    TlsListeners = [server],
                };
            }),

        // Until the mesh's own mTLS lands: the mesh over a transport the app sets up for mTLS itself (client
        // certificate and CA in SocketsHttpHandler.SslOptions), to an https endpoint. The TLS work is the same as
        // direct-mtls; what differs from mesh-mtls is only who configures the certificate and verifies the peer.
        new("mesh-over-mtls", "direct-mtls", "meshed HttpClient over an mTLS transport the app configures (client certificate in SslOptions) → backend (Kestrel TLS, client certificate required)",
            (ctx, _) => Task.FromResult(new PreparedVariant
            {
                NewClient = () => BenchClient.Mesh([TlsUri(ctx.MtlsPort)], tls: ctx.Pki.ClientOptions()),
                ClientLegTls = true,
            })),

        // The mesh's own mTLS (Mesh:Security, Strict): identity from the benchmark's CA (a TestCertificateAuthority, the
        // one nginx and the backend use), the same client certificate as direct-mtls, and the mesh's own TLS transport
        // (factory.CreateHandler), which verifies the backend by chain and SPIFFE ID as direct-mtls's options do.
        new("mesh-mtls", "direct-mtls", "meshed HttpClient with the mesh's mTLS (Strict, same CA and client certificate as direct-mtls) → backend (Kestrel TLS, client certificate required)",
            (ctx, _) => Task.FromResult(new PreparedVariant
            {
                NewClient = () => BenchClient.MeshMtls(TlsUri(ctx.MtlsPort), ctx.Pki),
                ClientLegTls = true,
            })),

        // The gRPC unary cell: the same Echo call (GrpcServices="Both" stubs of bench.proto) to a Grpc.AspNetCore
        // backend over h2c, each variant on a backend listener of its own, so the backend's counts per listener show
        // where every call went. grpc-mesh is the README's recipe over the mesh set up like the mesh variant's (one
        // static endpoint, default policy); its logical address resolves nowhere but in the mesh.
        new("grpc-direct", null, "GrpcChannel → gRPC backend (h2c): the gRPC floor",
            async (ctx, ct) =>
            {
                var backend = await ctx.GrpcBackendAsync(ct);
                return new PreparedVariant
                {
                    NewClient = () => BenchClient.GrpcDirect(backend.Uri(GrpcBackendProcess.DirectListener)),
                    GrpcBackend = backend,
                    GrpcListeners = [GrpcBackendProcess.DirectListener],
                };
            },
            Grpc: true),

        new("grpc-mesh", "grpc-direct", "GrpcChannel on http://grpc-backend with HttpHandler = MeshHandlerFactory.CreateHandler() (static endpoint, default policy) → gRPC backend",
            async (ctx, ct) =>
            {
                var backend = await ctx.GrpcBackendAsync(ct);
                return new PreparedVariant
                {
                    NewClient = () => BenchClient.GrpcMesh([backend.Uri(GrpcBackendProcess.MeshListener)]),
                    GrpcBackend = backend,
                    GrpcListeners = [GrpcBackendProcess.MeshListener],
                };
            },
            Grpc: true),

        new("grpc-nginx", "grpc-direct", "GrpcChannel → nginx (h2c listener, grpc_pass) → gRPC backend",
            async (ctx, ct) =>
            {
                var backend = await ctx.GrpcBackendAsync(ct);
                var proxy = await ctx.StartNginxAsync(
                    new NginxProxySpec("grpc-hop", backend.Port(GrpcBackendProcess.NginxListener), ListenMtls: false, UpstreamMtls: false, Grpc: true), ct);
                return new PreparedVariant
                {
                    NewClient = () => BenchClient.GrpcDirect(LocalUri(proxy.Port)),
                    Proxies = [proxy],
                    GrpcBackend = backend,
                    GrpcListeners = [GrpcBackendProcess.NginxListener],
                };
            },
            Grpc: true),
    ];

    public static Uri LocalUri(int port) => new($"http://127.0.0.1:{port}/");

    public static Uri TlsUri(int port) => new($"https://127.0.0.1:{port}/");
}
