using Mesh.Client.Routing;
using Mesh.Client.Runtime;

namespace Mesh.Client.Http;

/// <summary>
/// Sends a copy of a request to a mirror subset, fire and forget: the copy runs on the thread pool, its response is
/// discarded and its failure is only counted, so mirroring never delays or fails the caller. As in Istio the copy's
/// Host is the service name with <c>-shadow</c> appended, so the mirror can tell copies from real traffic.
/// </summary>
internal sealed class MirrorSender
{
    /// <summary>What a copy's Host adds to the service's name; the TLS target host too, so TLS reads it back.</summary>
    public const string ShadowSuffix = "-shadow";

    /// <summary>A mirror copy may not take longer than this, so a stuck mirror cannot pile up copies.</summary>
    private static readonly TimeSpan MaxMirrorTime = TimeSpan.FromSeconds(10);

    private readonly MeshHandler _handler;
    private readonly HttpRequestMessage _copy;
    private readonly RouteDestination _destination;
    private readonly ServiceModel _service;
    private readonly Uri _originalUri;

    private MirrorSender(MeshHandler handler, HttpRequestMessage copy, RouteDestination destination, ServiceModel service, Uri originalUri)
    {
        _handler = handler;
        _copy = copy;
        _destination = destination;
        _service = service;
        _originalUri = originalUri;
    }

    /// <summary>
    /// Copies the request (only when its body is already in memory; streaming bodies are not mirrored because
    /// reading them would delay the caller) and queues the copy, unless the service has
    /// <see cref="MirrorLimit.MaxInFlight"/> copies in flight already.
    /// </summary>
    public static void Start(MeshHandler handler, HttpRequestMessage request, Uri originalUri, RouteDestination destination, ServiceModel service)
    {
        if ((request.Content is not null and not ByteArrayContent and not ReadOnlyMemoryContent) || !service.Mirrors.TryEnter())
        {
            handler.Runtime.Telemetry.RecordMirror(service.Name, "skipped");
            return;
        }

        try
        {
            var copy = new HttpRequestMessage(request.Method, originalUri) { Version = request.Version, VersionPolicy = request.VersionPolicy };
            foreach (var header in request.Headers)
            {
                copy.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }

            copy.Headers.Host = service.Name + ShadowSuffix;
            if (request.Content is { } content)
            {
                // ByteArrayContent (StringContent, JsonContent is not one) and ReadOnlyMemoryContent buffer their bytes:
                // reading them again is a copy, not I/O.
                var bytes = content.ReadAsByteArrayAsync().GetAwaiter().GetResult();
                copy.Content = new ByteArrayContent(bytes);
                foreach (var header in content.Headers)
                {
                    copy.Content.Headers.TryAddWithoutValidation(header.Key, header.Value);
                }
            }

            var sender = new MirrorSender(handler, copy, destination, service, originalUri);
            ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.RunAsync(), sender, preferLocal: false);
        }
        catch
        {
            service.Mirrors.Exit(); // the copy never started: its place goes back
            throw;
        }
    }

    private async Task RunAsync()
    {
        var telemetry = _handler.Runtime.Telemetry;
        try
        {
            var endpoint = _destination.Picker.Pick(_copy, null).Endpoint;
            if (endpoint is null)
            {
                telemetry.RecordMirror(_service.Name, "failed");
                return;
            }

            _copy.RequestUri = EndpointUri.Rewrite(endpoint, _originalUri);
            using var cts = new CancellationTokenSource(MaxMirrorTime, _handler.Runtime.TimeProvider);
            using var response = await _handler.SendToInnerAsync(_copy, cts.Token);
            telemetry.RecordMirror(_service.Name, "sent");
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException or InvalidOperationException)
        {
            telemetry.RecordMirror(_service.Name, "failed");
        }
        finally
        {
            _copy.Dispose();
            _service.Mirrors.Exit();
        }
    }
}
