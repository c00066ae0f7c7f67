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
    public override Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context)
    {
        backend.RecordCall();
        return Task.FromResult(Reply(request, context, sequence: 1));
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
