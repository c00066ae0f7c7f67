using Grpc.Core;
using Mesh.AspNetCore.Security;

namespace Mesh.IntegrationTests.Grpc;

/// <summary>
/// The test service. Each reply names the backend that served it and the caller's mesh identity (<c>-</c> without
/// mTLS). A server stream writes reply n+1 only after the test called <see cref="GreeterBackend.AllowNextReply"/>, so
/// a test that reads reply n before allowing the next proves each message came through on its own, not buffered.
/// </summary>
internal sealed class GreeterService(GreeterBackend backend) : Greeter.GreeterBase
{
    /// <summary>The response header <see cref="SayHelloThenFail"/> sends before it fails.</summary>
    public const string HeadersFirst = "x-headers-first";

    public override Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context)
    {
        backend.RecordCall();
        return Task.FromResult(Reply(request, context, sequence: 1));
    }

    public override async Task<HelloReply> SayHelloThenFail(HelloRequest request, ServerCallContext context)
    {
        backend.RecordCall();
        await context.WriteResponseHeadersAsync([new Metadata.Entry(HeadersFirst, "yes")]);
        throw new RpcException(new Status((StatusCode)request.Count, "failed after the headers"));
    }

    public override async Task StreamHellos(HelloRequest request, IServerStreamWriter<HelloReply> responseStream, ServerCallContext context)
    {
        backend.RecordCall();
        for (var sequence = 1; sequence <= request.Count; sequence++)
        {
            if (sequence > 1)
            {
                await backend.WaitForNextReplyAsync(context.CancellationToken);
            }

            await responseStream.WriteAsync(Reply(request, context, sequence), context.CancellationToken);
            backend.RecordStreamed();
        }
    }

    private HelloReply Reply(HelloRequest request, ServerCallContext context, int sequence) => new()
    {
        Message = "Hello " + request.Name,
        ServedBy = backend.Name,
        Sequence = sequence,
        Caller = context.GetHttpContext().User.FindFirst(MeshClaims.SpiffeId)?.Value ?? "-",
    };
}
