using System.Net;
using System.Threading.Channels;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.IntegrationTests.Grpc;

/// <summary>
/// A real Grpc.AspNetCore server of <see cref="GreeterService"/> on 127.0.0.1 and a free port, HTTP/2 only: cleartext
/// (h2c, prior knowledge, as gRPC clients speak it) unless <c>configureServices</c> adds the mesh with mTLS, which then
/// puts TLS on the endpoint. It counts the calls it served and paces its server streams by <see cref="AllowNextReply"/>.
/// </summary>
internal sealed class GreeterBackend : IAsyncDisposable
{
    private readonly Channel<bool> _nextReply = Channel.CreateUnbounded<bool>();
    private WebApplication _app = null!;
    private int _calls;
    private int _streamed;

    private GreeterBackend(string name) => Name = name;

    public string Name { get; }

    /// <summary>The plaintext address (<c>http://127.0.0.1:port</c>); see <see cref="HttpsAddress"/> for mesh TLS.</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>The same port as an <c>https</c> endpoint address, as a mesh server with mTLS is registered.</summary>
    public Uri HttpsAddress => new($"https://127.0.0.1:{Address.Port}");

    /// <summary>
    /// When set, a unary call fails with this status before any reply (trailers-only) and a server stream fails with
    /// it after its first reply.
    /// </summary>
    public StatusCode? FailWith { get; set; }

    /// <summary>When set, a unary call waits for <see cref="AllowNextReply"/> (or its cancellation) before it answers.</summary>
    public bool HoldUnary { get; set; }

    /// <summary>The server's services, e.g. its meter factory.</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>Calls served, unary and streaming.</summary>
    public int Calls => Volatile.Read(ref _calls);

    /// <summary>Replies written so far by server streams.</summary>
    public int Streamed => Volatile.Read(ref _streamed);

    public static async Task<GreeterBackend> StartAsync(string name, Action<IServiceCollection>? configureServices = null,
        Action<WebApplication>? configure = null)
    {
        var backend = new GreeterBackend(name);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(backend);
        configureServices?.Invoke(builder.Services);
        var app = builder.Build();
        configure?.Invoke(app);
        app.MapGrpcService<GreeterService>();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        backend.Address = new Uri(address.Replace("[::1]", "127.0.0.1", StringComparison.Ordinal));
        backend._app = app;
        return backend;
    }

    /// <summary>Lets a server stream write its next reply: the test calls this once it has read the previous one.</summary>
    public void AllowNextReply() => _nextReply.Writer.TryWrite(true);

    internal void RecordCall() => Interlocked.Increment(ref _calls);

    internal void RecordStreamed() => Interlocked.Increment(ref _streamed);

    internal ValueTask<bool> WaitForNextReplyAsync(CancellationToken cancellationToken) => _nextReply.Reader.ReadAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
