using Mesh.Client.Internal;

namespace Mesh.Client.Grpc;

/// <summary>
/// The body of a streamed gRPC response under the call's deadline. Envoy's route timeout covers the whole response, so
/// a server stream cannot outlive it: when the deadline passes first, the upstream stream is aborted and the caller
/// reads the end of the body with <c>grpc-status: 4</c> (DEADLINE_EXCEEDED) in the trailers, as if the server had
/// timed the call out itself. Wraps the transport's content; a response that ends in time is untouched.
/// </summary>
internal sealed class GrpcDeadlineContent : HttpContent
{
    private const int Open = 0;
    private const int Ended = 1;
    private const int Expired = 2;

    private readonly HttpResponseMessage _response;
    private readonly HttpContent _inner;
    private readonly string _service;
    private readonly string _route;
    private readonly ITimer _timer;
    private int _state;

    public GrpcDeadlineContent(HttpResponseMessage response, TimeSpan remaining, TimeProvider time, string service, string route)
    {
        _response = response;
        _inner = response.Content;
        _service = service;
        _route = route;
        foreach (var header in _inner.Headers.NonValidated)
        {
            Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        _timer = time.CreateTimer(static s => ((GrpcDeadlineContent)s!).Expire(), this, remaining, Timeout.InfiniteTimeSpan);
    }

    internal bool HasExpired => Volatile.Read(ref _state) == Expired;

    protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
        new GrpcDeadlineStream(this, await _inner.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));

    protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context, CancellationToken cancellationToken)
    {
        var source = await CreateContentReadStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (source.ConfigureAwait(false))
        {
            await source.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
        }
    }

    protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _timer.Dispose();
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>The upstream body ended first (its own trailers, if any, are the status): the deadline no longer applies.</summary>
    internal void OnEnded()
    {
        if (Interlocked.CompareExchange(ref _state, Ended, Open) == Open)
        {
            _timer.Dispose();
        }
    }

    private void Expire()
    {
        if (Interlocked.CompareExchange(ref _state, Expired, Open) != Open)
        {
            return;
        }

        // The trailers go in before the abort wakes the reader, which then sees the end of the body and reads them.
        var trailers = _response.TrailingHeaders;
        trailers.Remove(MeshHeaders.GrpcStatus);
        trailers.Remove(MeshHeaders.GrpcMessage);
        trailers.TryAddWithoutValidation(MeshHeaders.GrpcStatus, "4");
        trailers.TryAddWithoutValidation(MeshHeaders.GrpcMessage, $"The call to service '{_service}' (route '{_route}') ran past its deadline.");
        trailers.TryAddWithoutValidation(MeshHeaders.Fault, "timeout");

        // Disposing the transport's content resets the upstream stream: the server sees the call cancelled.
        _inner.Dispose();
    }
}
