using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;
using Mesh.Client.Internal;

namespace Mesh.Client.Tests.Http;

/// <summary>
/// The transport under a mesh handler in unit tests: each request is recorded and answered by the test's script
/// (a status, an exception, a wait on the test's clock, or a hang until the request's token is cancelled), never
/// over a network.
/// </summary>
internal sealed class ScriptedBackend(Func<SentRequest, Task<HttpResponseMessage>> script) : HttpMessageHandler
{
    private readonly ConcurrentQueue<SentRequest> _sent = new();
    private readonly Channel<SentRequest> _arrivals = Channel.CreateUnbounded<SentRequest>();
    private int _count;

    /// <summary>Every request the mesh sent, in order.</summary>
    public IReadOnlyList<SentRequest> Sent => [.. _sent];

    /// <summary>The next request to arrive (the one already there, if it came first).</summary>
    public ValueTask<SentRequest> NextAsync() => _arrivals.Reader.ReadAsync();

    public static Task<HttpResponseMessage> Answer(int status) => Task.FromResult(new HttpResponseMessage((HttpStatusCode)status));

    /// <summary>A gRPC server's answer: trailers-only with <paramref name="grpcStatus"/>, or, for null, headers that messages follow.</summary>
    public static Task<HttpResponseMessage> AnswerGrpc(int? grpcStatus)
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([]) };
        response.Content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        if (grpcStatus is { } status)
        {
            response.Headers.TryAddWithoutValidation(MeshHeaders.GrpcStatus, status.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return Task.FromResult(response);
    }

    /// <summary>Holds the request until its token is cancelled, then fails the way a socket handler does.</summary>
    public static async Task<HttpResponseMessage> HangAsync(SentRequest request)
    {
        await Task.Delay(Timeout.InfiniteTimeSpan, request.Token);
        throw new InvalidOperationException("An infinite wait ended without a cancellation.");
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
        var sent = new SentRequest(
            Interlocked.Increment(ref _count),
            request.RequestUri!.Authority,
            request.Method,
            request.RequestUri.AbsolutePath,
            request.Headers.Host,
            request.Headers.TryGetValues(MeshHeaders.Timeout, out var budget) ? budget.Single() : null,
            body,
            cancellationToken,
            request.Headers.TryGetValues(MeshHeaders.GrpcTimeout, out var grpcTimeout) ? grpcTimeout.Single() : null);
        _sent.Enqueue(sent);
        _arrivals.Writer.TryWrite(sent);
        var response = await script(sent);
        response.RequestMessage = request;
        return response;
    }
}
