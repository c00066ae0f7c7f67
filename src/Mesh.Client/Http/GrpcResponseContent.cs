using System.Diagnostics;
using System.Net;
using Mesh.Client.Telemetry;

namespace Mesh.Client.Http;

/// <summary>
/// The body of a gRPC response whose status is still to come in the trailers (every normal gRPC response: only a
/// trailers-only error has <c>grpc-status</c> in the headers). The call's span and its request metrics wait for the
/// end of this body, when <see cref="HttpResponseMessage.TrailingHeaders"/> hold the status: the first read that
/// returns nothing, a failed read, or the disposal of the body or the response, whichever comes first, ends the call
/// exactly once. The call's duration is therefore the whole gRPC call, streams included, as gRPC's own metrics count it.
/// </summary>
/// <remarks>
/// Wrapping costs this object, its stream and a copy of the content headers, so it is done only for a gRPC
/// content type without a status in the headers and only while someone listens to the span or the request metrics.
/// </remarks>
internal sealed class GrpcResponseContent : HttpContent
{
    private const string ContentType = "Content-Type";

    private readonly HttpContent _inner;
    private readonly HttpResponseMessage _response;
    private readonly Activity? _activity;
    private readonly MeshTelemetry _telemetry;
    private readonly MeshCall _call;
    private readonly TimeProvider _time;
    private readonly int _statusCode;
    private int _ended;

    private GrpcResponseContent(HttpResponseMessage response, Activity? activity, MeshTelemetry telemetry, in MeshCall call, TimeProvider time)
    {
        _inner = response.Content;
        _response = response;
        _activity = activity;
        _telemetry = telemetry;
        _call = call; // a copy: the call is over, only read from here on
        _time = time;
        _statusCode = (int)response.StatusCode;
        foreach (var header in _inner.Headers.NonValidated)
        {
            var values = header.Value;
            if (values.Count == 1)
            {
                Headers.TryAddWithoutValidation(header.Key, values.ToString());
            }
            else
            {
                Headers.TryAddWithoutValidation(header.Key, values);
            }
        }
    }

    /// <summary>
    /// Puts the end of the call off to the end of the response body when the response is gRPC and its status is not
    /// in the headers. Returns false (the caller ends the call now) otherwise.
    /// </summary>
    public static bool TryDefer(HttpResponseMessage response, Activity? activity, MeshTelemetry telemetry, in MeshCall call, TimeProvider time)
    {
        if ((activity is null && !telemetry.RequestsEnabled) || !IsGrpc(response.Content) ||
            response.Headers.NonValidated.Contains(Internal.MeshHeaders.GrpcStatus))
        {
            return false;
        }

        response.Content = new GrpcResponseContent(response, activity, telemetry, call, time);
        return true;
    }

    /// <summary><c>application/grpc</c> and its <c>+proto</c>/<c>+json</c> forms; not gRPC-Web, whose trailers are in the body.</summary>
    internal static bool IsGrpc(HttpContent content)
    {
        if (!content.Headers.NonValidated.TryGetValues(ContentType, out var values) || values.Count != 1)
        {
            return false;
        }

        var value = values.ToString();
        const string Grpc = "application/grpc";
        return value.StartsWith(Grpc, StringComparison.OrdinalIgnoreCase) &&
            (value.Length == Grpc.Length || value[Grpc.Length] is '+' or ';');
    }

    /// <summary>Ends the call with the status the trailers hold, once; <paramref name="error"/> when the body failed.</summary>
    internal void End(Exception? error)
    {
        if (Interlocked.Exchange(ref _ended, 1) != 0)
        {
            return;
        }

        var grpcStatus = _response.TrailingHeaders.NonValidated.TryGetValues(Internal.MeshHeaders.GrpcStatus, out var values) && values.Count == 1
            ? values.ToString()
            : string.Empty;
        if (_activity is { } activity)
        {
            if (error is not null && activity.IsAllDataRequested)
            {
                activity.SetStatus(ActivityStatusCode.Error, error.Message);
                activity.SetTag("error.type", error.GetType().FullName);
            }

            MeshSpans.CallEnded(activity, _statusCode, grpcStatus);

            // Stopping a span makes its parent current wherever that happens; here it is the reader's context,
            // whose current span is its own business.
            var current = Activity.Current;
            activity.Dispose();
            if (current != activity)
            {
                Activity.Current = current;
            }
        }

        if (_telemetry.RequestsEnabled)
        {
            MeshHandler.RecordCall(_telemetry, _call, _statusCode, grpcStatus, MeshHandler.ResponseBytes(_response), _time);
        }
    }

    protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
        new GrpcResponseStream(await _inner.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), this);

    protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

    protected override Stream CreateContentReadStream(CancellationToken cancellationToken) =>
        new GrpcResponseStream(_inner.ReadAsStream(cancellationToken), this);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var body = await CreateContentReadStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (body.ConfigureAwait(false))
        {
            await body.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
            End(error: null);
        }

        base.Dispose(disposing);
    }
}
