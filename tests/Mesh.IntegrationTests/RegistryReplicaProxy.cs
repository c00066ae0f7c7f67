using System.Collections.Concurrent;
using System.Net;
using Mesh.Client.Registry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.IntegrationTests;

/// <summary>
/// A registry replica for failover tests: a real Kestrel server on 127.0.0.1 that forwards every request to one
/// registry, so two of them serve the same store and the same indexes, as the replicas of one registry do. It keeps
/// what it was asked and the index of each answer it passed on. <see cref="StopAsync"/> aborts its open long polls and
/// closes its port, as a replica that crashes does.
/// </summary>
internal sealed class RegistryReplicaProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _upstream = new() { Timeout = Timeout.InfiniteTimeSpan };
    private readonly CancellationTokenSource _down = new();
    private bool _stopped;

    private RegistryReplicaProxy(WebApplication app) => _app = app;

    public Uri Address { get; private set; } = null!;

    /// <summary>The path and query of every request, in arrival order.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Each answer passed on in full: the request's path and query, and the answer's <c>X-Mesh-Index</c>.</summary>
    public ConcurrentQueue<(string Request, string? Index)> Answers { get; } = new();

    public static async Task<RegistryReplicaProxy> StartAsync(Uri registry)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var proxy = new RegistryReplicaProxy(app);
        app.Run(context => proxy.ForwardAsync(registry, context));
        await app.StartAsync();
        proxy.Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return proxy;
    }

    /// <summary>Index of the last answer to a request whose path starts with <paramref name="path"/>, or null.</summary>
    public long? LastAnsweredIndex(string path) =>
        Answers.LastOrDefault(a => a.Request.StartsWith(path, StringComparison.Ordinal)).Index is { } index ? long.Parse(index, System.Globalization.CultureInfo.InvariantCulture) : null;

    /// <summary>Drops every open request without an answer and stops listening.</summary>
    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        await _down.CancelAsync();
        await _app.StopAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _app.DisposeAsync();
        _upstream.Dispose();
        _down.Dispose();
    }

    private async Task ForwardAsync(Uri registry, HttpContext context)
    {
        var target = context.Request.Path.Value + context.Request.QueryString.Value;
        if (_down.IsCancellationRequested)
        {
            context.Abort();
            return;
        }

        Requests.Enqueue(target);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _down.Token);
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), new Uri(registry, target.TrimStart('/')));
        if (context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            request.Content = new StreamContent(context.Request.Body);
            if (context.Request.ContentType is { } contentType)
            {
                request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            }
        }

        if (context.Request.Headers.Authorization.Count > 0)
        {
            request.Headers.TryAddWithoutValidation("Authorization", context.Request.Headers.Authorization.ToString());
        }

        try
        {
            using var response = await _upstream.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
            context.Response.StatusCode = (int)response.StatusCode;
            if (response.Content.Headers.ContentType is { } type)
            {
                context.Response.ContentType = type.ToString();
            }

            var index = response.Headers.TryGetValues(RegistryHeaders.Index, out var values) ? values.First() : null;
            if (index is not null)
            {
                context.Response.Headers[RegistryHeaders.Index] = index;
            }

            await response.Content.CopyToAsync(context.Response.Body, cancel.Token);
            await context.Response.CompleteAsync();
            Answers.Enqueue((target, index));
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            context.Abort(); // a crash answers nothing
        }
    }
}
