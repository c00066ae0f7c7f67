using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.Testing;

/// <summary>
/// A real Kestrel server on 127.0.0.1 and a free port. By default it answers 200 with its name in the body and an
/// <c>x-backend</c> header; a test can give it any handler. It counts the requests it gets and keeps the last
/// request's headers.
/// </summary>
public sealed class TestBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private TestBackend(string name, WebApplication app)
    {
        Name = name;
        _app = app;
    }

    public string Name { get; }

    public Uri Address { get; private set; } = null!;

    public int Requests => Volatile.Read(ref _requests);

    public IHeaderDictionary? LastRequestHeaders { get; private set; }

    /// <summary>Headers of every request, in arrival order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<IHeaderDictionary> AllRequestHeaders { get; } = new();

    public static async Task<TestBackend> StartAsync(string name, Func<HttpContext, Task>? handler = null,
        Action<IServiceCollection>? services = null, Action<WebApplication>? configure = null, HttpProtocolsOption protocols = HttpProtocolsOption.Http1)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = protocols switch
        {
            HttpProtocolsOption.Http2 => Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2,
            _ => Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1,
        }));
        services?.Invoke(builder.Services);
        var app = builder.Build();
        var backend = new TestBackend(name, app);
        app.Use(async (context, next) =>
        {
            Interlocked.Increment(ref backend._requests);
            var copy = new HeaderDictionary();
            foreach (var h in context.Request.Headers)
            {
                copy[h.Key] = h.Value;
            }

            backend.LastRequestHeaders = copy;
            backend.AllRequestHeaders.Enqueue(copy);
            context.Response.Headers["x-backend"] = name;
            await next(context);
        });
        configure?.Invoke(app);
        ((IApplicationBuilder)app).Run(new RequestDelegate(handler ?? (async context => await context.Response.WriteAsync(name))));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        backend.Address = new Uri(address.Replace("[::1]", "127.0.0.1", StringComparison.Ordinal));
        return backend;
    }

    /// <summary>An address nothing listens on: a port bound and released again.</summary>
    public static Uri ClosedPortAddress()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        return new Uri($"http://127.0.0.1:{port}");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

public enum HttpProtocolsOption
{
    Http1,
    Http2,
}
