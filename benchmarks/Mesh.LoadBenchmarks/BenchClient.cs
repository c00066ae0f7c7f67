using System.Diagnostics.Metrics;
using System.Net.Security;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using Mesh.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.LoadBenchmarks;

/// <summary>
/// The caller's side of one measured cell: an <see cref="HttpClient"/>, the URI it asks for, and the number of
/// connections its transport opened (each one a TLS handshake when the first leg is TLS). Every variant uses the
/// same transport settings, so the only difference between two of them is what sits between caller and backend.
/// </summary>
internal sealed class BenchClient : IDisposable
{
    private static readonly EchoRequest s_echo = new() { Id = 1 };
    private readonly ConnectionCounter _connections;
    private readonly IDisposable? _owner;
    private readonly IDisposable? _listener;
    private readonly HttpClient? _http;
    private readonly GrpcChannel? _channel;
    private readonly BenchRpc.BenchRpcClient? _grpc;

    private BenchClient(HttpMessageHandler handler, Uri uri, ConnectionCounter connections, IDisposable? owner, IDisposable? listener = null)
    {
        _http = new HttpClient(handler, disposeHandler: true) { Timeout = TimeSpan.FromSeconds(30) };
        Uri = uri;
        _connections = connections;
        _owner = owner;
        _listener = listener;
    }

    private BenchClient(GrpcChannel channel, Uri uri, ConnectionCounter connections, IDisposable? owner)
    {
        _channel = channel;
        _grpc = new BenchRpc.BenchRpcClient(channel);
        Uri = uri;
        _connections = connections;
        _owner = owner;
    }

    /// <summary>The HTTP client of an HTTP variant; a gRPC variant has none (see <see cref="IsGrpc"/>).</summary>
    public HttpClient Http => _http ?? throw new InvalidOperationException("a gRPC variant's client sends through its channel");

    public bool IsGrpc => _grpc is not null;

    public Uri Uri { get; }

    public long ConnectionsOpened => Interlocked.Read(ref _connections.Count);

    /// <summary>A plain <see cref="HttpClient"/> straight to <paramref name="uri"/>, with client TLS options when given.</summary>
    public static BenchClient Direct(Uri uri, SslClientAuthenticationOptions? tls)
    {
        var connections = new ConnectionCounter();
        return new BenchClient(Transport(connections, tls), uri, connections, owner: null);
    }

    /// <summary>An <see cref="HttpClient"/> asking for <c>http://backend/</c> through <see cref="RewriteHandler"/> (the profile's baseline for the mesh).</summary>
    public static BenchClient Rewrite(Uri endpoint)
    {
        var connections = new ConnectionCounter();
        var handler = new RewriteHandler(endpoint.GetLeftPart(UriPartial.Authority), "backend") { InnerHandler = Transport(connections, tls: null) };
        return new BenchClient(handler, new Uri("http://backend/"), connections, owner: null);
    }

    /// <summary>
    /// A meshed <see cref="HttpClient"/> built as an app builds it: a <c>Mesh</c> section (service <c>backend</c> with
    /// static endpoints), <c>AddMeshClient()</c>, and the handler factory over the same transport as
    /// <see cref="Direct"/>. Requests go to <c>http://backend/</c>.
    /// </summary>
    public static BenchClient Mesh(IReadOnlyList<Uri> endpoints, Action<Dictionary<string, string?>>? edit = null,
        SslClientAuthenticationOptions? tls = null, string path = "/", DelegatingHandler? underMesh = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Mesh:Service:Name"] = TestPki.ClientName,
        };
        for (var i = 0; i < endpoints.Count; i++)
        {
            settings[$"Mesh:Services:backend:Endpoints:{i}:Address"] = endpoints[i].ToString();
        }

        edit?.Invoke(settings);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddMeshClient();
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        try
        {
            var factory = provider.GetRequiredService<Mesh.Client.MeshHandlerFactory>();
            var connections = new ConnectionCounter();
            HttpMessageHandler transport = Transport(connections, tls);
            if (underMesh is not null)
            {
                underMesh.InnerHandler = transport;
                transport = underMesh;
            }

            var handler = factory.CreateHandler(transport, "bench");
            return new BenchClient(handler, new Uri("http://backend" + path), connections, provider);
        }
        catch
        {
            provider.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A meshed <see cref="HttpClient"/> with the mesh's own mTLS (<c>Mesh:Security:Mode</c> Strict): its identity
    /// comes from <paramref name="pki"/>'s CA (<c>AddTestCertificateAuthority</c>) and presents the same client
    /// certificate as the direct clients; <c>factory.CreateHandler("bench")</c> builds the mesh's own TLS transport, which
    /// verifies the backend by chain and SPIFFE ID. <see cref="ConnectionsOpened"/> counts the mesh's client-side
    /// handshakes (<c>mesh.tls.handshakes{side=client}</c> on this client's <c>Mesh.Security</c> meter).
    /// </summary>
    public static BenchClient MeshMtls(Uri endpoint, TestPki pki)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Mesh:Service:Name"] = TestPki.ClientName,
            ["Mesh:Security:Mode"] = "Strict",
            ["Mesh:Services:backend:Endpoints:0:Address"] = endpoint.ToString(),
        };
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddMeshClient();
        services.AddTestCertificateAuthority(pki.Authority, TestPki.ClientName);
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        var listener = new MeterListener();
        try
        {
            // The very certificate direct-mtls presents, not a second one from the same CA.
            provider.GetRequiredService<TestWorkloadIdentity>().Use(pki.Client);
            var connections = new ConnectionCounter();
            var meters = provider.GetRequiredService<IMeterFactory>();
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == "mesh.tls.handshakes" && ReferenceEquals(instrument.Meter.Scope, meters))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "side" && tag.Value is "client")
                    {
                        Interlocked.Add(ref connections.Count, value);
                    }
                }
            });
            listener.Start();
            var handler = provider.GetRequiredService<Mesh.Client.MeshHandlerFactory>().CreateHandler("bench");
            return new BenchClient(handler, new Uri("http://backend/"), connections, provider, listener);
        }
        catch
        {
            listener.Dispose();
            provider.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A <see cref="GrpcChannel"/> straight to <paramref name="address"/> over the same transport as <see cref="Direct"/>.
    /// Its connect callback (which counts connections) also makes the channel use the handler as it is, without
    /// gRPC's own balancer in front of it: the same channel set-up the meshed channel gets, whose transport the
    /// mesh hides from gRPC.
    /// </summary>
    public static BenchClient GrpcDirect(Uri address)
    {
        var connections = new ConnectionCounter();
        var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = Transport(connections, tls: null),
            ThrowOperationCanceledOnCancellation = true,
        });
        return new BenchClient(channel, address, connections, owner: null);
    }

    /// <summary>
    /// A meshed <see cref="GrpcChannel"/> the way the README tells users to make one: the logical address
    /// <c>http://grpc-backend</c> and <c>HttpHandler = MeshHandlerFactory.CreateHandler()</c>, the mesh built as in
    /// <see cref="Mesh"/> (a <c>Mesh</c> section with the service on static endpoints, default policy,
    /// <c>AddMeshClient()</c>). The transport is the one the mesh makes itself, so <see cref="ConnectionsOpened"/>
    /// stays 0; the gRPC backend counts the connections it accepted instead.
    /// </summary>
    public static BenchClient GrpcMesh(IReadOnlyList<Uri> endpoints)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Mesh:Service:Name"] = TestPki.ClientName,
        };
        for (var i = 0; i < endpoints.Count; i++)
        {
            settings[$"Mesh:Services:grpc-backend:Endpoints:{i}:Address"] = endpoints[i].ToString();
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddMeshClient();
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        try
        {
            var mesh = provider.GetRequiredService<Mesh.Client.MeshHandlerFactory>();
            var address = new Uri("http://grpc-backend");
            var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
            {
                HttpHandler = mesh.CreateHandler(),
                ThrowOperationCanceledOnCancellation = true,
            });
            return new BenchClient(channel, address, new ConnectionCounter(), provider);
        }
        catch
        {
            provider.Dispose();
            throw;
        }
    }

    /// <summary>
    /// One Echo call, as an HTTP variant's request is one <c>GET /</c>: null when it answered the 1,024 bytes, else
    /// what went wrong. No deadline, as in a plain unary call; the run's own deadline bounds it.
    /// </summary>
    public async Task<string?> CallGrpcOnceAsync(CancellationToken cancellationToken)
    {
        try
        {
            var reply = await _grpc!.EchoAsync(s_echo, cancellationToken: cancellationToken);
            return reply.Payload.Length == Backend.ResponseBytes ? null : $"{reply.Payload.Length} bytes";
        }
        catch (RpcException e)
        {
            return $"{e.StatusCode}: {e.Status.Detail}";
        }
    }

    private static SocketsHttpHandler Transport(ConnectionCounter connections, SslClientAuthenticationOptions? tls)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            // Counts the connections this client opens; the callback is made once per connection, not per request.
            ConnectCallback = async (context, cancellationToken) =>
            {
                Interlocked.Increment(ref connections.Count);
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
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
        if (tls is not null)
        {
            handler.SslOptions = tls;
        }

        return handler;
    }

    public void Dispose()
    {
        _http?.Dispose();
        _channel?.Dispose();
        _listener?.Dispose();
        _owner?.Dispose();
    }

    /// <summary>Counts the attempts the mesh sends to each port (it sits under the mesh, so it sees rewritten URIs).</summary>
    public sealed class PortCounter : DelegatingHandler
    {
        private readonly long[] _counts = new long[65536];

        public long this[int port] => Interlocked.Read(ref _counts[port]);

        public void Reset() => Array.Clear(_counts);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _counts[request.RequestUri!.Port]);
            return base.SendAsync(request, cancellationToken);
        }
    }

    private sealed class ConnectionCounter
    {
        public long Count;
    }
}
