using Grpc.Core;
using Grpc.Net.Client;
using Mesh.AspNetCore.Security;
using Mesh.Client;
using Microsoft.Extensions.DependencyInjection;

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

    public override async Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context)
    {
        backend.RecordCall();
        if (backend.FailWith is { } status)
        {
            // Nothing written yet: Grpc.AspNetCore answers trailers-only, the status in the response headers.
            throw new RpcException(new Status(status, $"{backend.Name} fails on purpose"));
        }

        if (backend.HoldUnary)
        {
            await backend.WaitForNextReplyAsync(context.CancellationToken);
        }

        return Reply(request, context, sequence: 1);
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
            if (backend.FailWith is { } status)
            {
                // A message is out: the status can only come in the trailers now.
                throw new RpcException(new Status(status, $"{backend.Name} fails on purpose after a reply"));
            }
        }
    }

    public override async Task<DeadlineReply> ReportDeadline(DeadlineRequest request, ServerCallContext context)
    {
        backend.RecordCall();
        if (request.RelayTo.Length > 0)
        {
            // Through this server's mesh, without passing the deadline on by hand: the mesh carries it.
            var mesh = context.GetHttpContext().RequestServices.GetRequiredService<MeshHandlerFactory>();
            using var channel = GrpcChannel.ForAddress("http://" + request.RelayTo, new GrpcChannelOptions { HttpHandler = mesh.CreateHandler() });
            return await new Greeter.GreeterClient(channel).ReportDeadlineAsync(new DeadlineRequest(), cancellationToken: context.CancellationToken);
        }

        var reply = new DeadlineReply { ServedBy = backend.Name };
        if (context.Deadline != DateTime.MaxValue)
        {
            reply.RemainingTicks = (context.Deadline - DateTime.UtcNow).Ticks;
        }

        return reply;
    }

    private HelloReply Reply(HelloRequest request, ServerCallContext context, int sequence) => new()
    {
        Message = "Hello " + request.Name,
        ServedBy = backend.Name,
        Sequence = sequence,
        Caller = context.GetHttpContext().User.FindFirst(MeshClaims.SpiffeId)?.Value ?? "-",
    };
}
