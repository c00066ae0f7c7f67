using Grpc.Core;

namespace Mesh.LoadBenchmarks;

/// <summary>The gRPC backend's service: Echo counts the call on the listener it arrived at and answers 1,024 bytes.</summary>
internal sealed class BenchRpcService(BenchRpcCounters counters) : BenchRpc.BenchRpcBase
{
    private static readonly Task<CollectReply> s_collected = Task.FromResult(new CollectReply());

    public override Task<EchoReply> Echo(EchoRequest request, ServerCallContext context)
    {
        counters.RecordCall(context.GetHttpContext().Connection.LocalPort);
        return Task.FromResult(counters.Reply);
    }

    public override Task<StatsReply> Stats(StatsRequest request, ServerCallContext context) => Task.FromResult(counters.Snapshot());

    public override Task<CollectReply> Collect(CollectRequest request, ServerCallContext context)
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true);
        return s_collected;
    }
}
