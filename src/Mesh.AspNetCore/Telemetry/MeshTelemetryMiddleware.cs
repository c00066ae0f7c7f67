using System.Diagnostics;
using System.Globalization;
using Mesh.AspNetCore.Security;
using Mesh.Client.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Mesh.AspNetCore.Telemetry;

/// <summary>
/// The destination side of the standard metrics (<c>reporter="destination"</c>, on the same instruments the client
/// reports on) and the opt-in access log. First in <c>UseMesh()</c>, so it sees requests that later middleware refuses.
/// The caller's service and version come only from what its mTLS client certificate proves (<see cref="MeshPeerFeature"/>);
/// everyone else is <c>unknown</c>. The <c>x-mesh-source-*</c> headers are never read: anyone can write them, and a label
/// a caller chooses could poison per-version metrics or push real callers out of the exporter's series cap.
/// </summary>
internal sealed partial class MeshTelemetryMiddleware(MeshInbound inbound, TimeProvider timeProvider, SourceVersionLabels versionLabels,
    ILoggerFactory loggerFactory) : IMiddleware
{
    private const string Unknown = "unknown";
    private const string GrpcStatusHeader = "grpc-status";

    private readonly ILogger _accessLog = loggerFactory.CreateLogger("Mesh.AccessLog");

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var accessLog = inbound.Model.AccessLog && _accessLog.IsEnabled(LogLevel.Information);
        if (!inbound.RequestMetricsEnabled && !accessLog)
        {
            await next(context);
            return;
        }

        var start = timeProvider.GetTimestamp();
        var startTime = accessLog ? timeProvider.GetUtcNow() : default;
        var failed = false;
        try
        {
            await next(context);
        }
        catch
        {
            failed = true;
            throw;
        }
        finally
        {
            var seconds = timeProvider.GetElapsedTime(start).TotalSeconds;
            var status = failed && !context.Response.HasStarted ? 500 : context.Response.StatusCode;
            if (context.RequestAborted.IsCancellationRequested && failed)
            {
                status = 499; // the caller went away: nginx's and Envoy's code for it
            }

            var peer = context.Features.Get<MeshPeerFeature>();
            var mutualTls = peer is not null;
            var sourceService = peer?.Service ?? Unknown;
            var sourceVersion = peer?.Version is { } version ? versionLabels.Label(peer.Service, version) : Unknown;
            var route = RouteOf(context);
            var grpcStatus = GrpcStatus(context);
            var requestBytes = context.Request.ContentLength ?? 0;
            var responseBytes = context.Response.ContentLength ?? 0;
            inbound.RecordRequest(sourceService, sourceVersion, route, status, grpcStatus, mutualTls, requestBytes, responseBytes, seconds);
            if (accessLog)
            {
                var activity = Activity.Current;
                LogAccess(_accessLog, startTime.ToString("O", CultureInfo.InvariantCulture), context.Request.Method,
                    AccessLogText.Path(context.Request), context.Request.Protocol, status, grpcStatus.Length == 0 ? "-" : grpcStatus,
                    ResponseFlags(context, failed), requestBytes, responseBytes, Math.Round(seconds * 1000, 3),
                    inbound.ServiceName, inbound.ServiceVersion, sourceService, sourceVersion, peer?.SpiffeId ?? "-",
                    mutualTls ? "mutual_tls" : "none", route, Header(context, "x-request-id"), Header(context, "user-agent"),
                    AccessLogText.Escape(context.Request.Host.Value ?? "-"), context.Connection.RemoteIpAddress?.ToString() ?? "-",
                    activity?.TraceId.ToHexString() ?? "-", activity?.SpanId.ToHexString() ?? "-");
            }
        }
    }

    private static string RouteOf(HttpContext context) => context.GetEndpoint() switch
    {
        RouteEndpoint { RoutePattern.RawText: { } pattern } => pattern,
        { DisplayName: { } name } => name,
        _ => "unmatched",
    };

    private static string GrpcStatus(HttpContext context)
    {
        if (context.Response.Headers.TryGetValue(GrpcStatusHeader, out var header) && header.Count == 1)
        {
            return header[0] ?? string.Empty;
        }

        return context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers is { } trailers &&
            trailers.TryGetValue(GrpcStatusHeader, out var trailer) && trailer.Count == 1
            ? trailer[0] ?? string.Empty
            : string.Empty;
    }

    /// <summary>Envoy-style response flags where they mean something in-process: DC (downstream gone), UF-like errors.</summary>
    private static string ResponseFlags(HttpContext context, bool failed) =>
        context.RequestAborted.IsCancellationRequested ? "DC" : failed ? "EX" : "-";

    private static string Header(HttpContext context, string name) =>
        context.Request.Headers.TryGetValue(name, out var v) && v.Count > 0 ? AccessLogText.Escape(v.ToString()) : "-";

    [LoggerMessage(100, LogLevel.Information,
        "[{StartTime}] \"{Method} {Path} {Protocol}\" {ResponseCode} {GrpcStatus} {ResponseFlags} {BytesReceived} {BytesSent} {DurationMs} " +
        "upstream={UpstreamService}/{UpstreamVersion} downstream={SourceService}/{SourceVersion} principal={SourcePrincipal} " +
        "security={ConnectionSecurity} route=\"{Route}\" request_id={RequestId} user_agent=\"{UserAgent}\" authority={Authority} " +
        "peer={PeerAddress} trace_id={TraceId} span_id={SpanId}")]
    private static partial void LogAccess(ILogger logger, string startTime, string method, string path, string protocol, int responseCode,
        string grpcStatus, string responseFlags, long bytesReceived, long bytesSent, double durationMs, string upstreamService,
        string upstreamVersion, string sourceService, string sourceVersion, string sourcePrincipal, string connectionSecurity, string route,
        string requestId, string userAgent, string authority, string peerAddress, string traceId, string spanId);
}
