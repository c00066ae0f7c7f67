using System.Globalization;
using Grpc.Net.Client;

namespace Mesh.LoadBenchmarks;

/// <summary>
/// The gRPC backend child process (<see cref="GrpcBackend"/>), seen from the load generator. Each gRPC variant sends
/// to a listener of its own, so the backend's count of Echo calls per listener says which path every call took: a
/// meshed call can only arrive on the listener that only the mesh's configuration names.
/// </summary>
internal sealed class GrpcBackendProcess : IDisposable
{
    /// <summary>The harness's Stats and Collect calls, on a connection of their own.</summary>
    public const int ControlListener = 0;
    public const int DirectListener = 1;
    public const int NginxListener = 2;
    public const int MeshListener = 3;
    public const int Listeners = 4;

    private readonly BackendProcess _process;
    private readonly GrpcChannel _control;
    private readonly BenchRpc.BenchRpcClient _client;

    private GrpcBackendProcess(BackendProcess process)
    {
        _process = process;
        _control = GrpcChannel.ForAddress(Uri(ControlListener), new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { UseProxy = false },
            ThrowOperationCanceledOnCancellation = true,
        });
        _client = new BenchRpc.BenchRpcClient(_control);
    }

    public int Pid => _process.Pid;

    public Uri Uri(int listener) => Variants.LocalUri(_process.Ports[listener]);

    public int Port(int listener) => _process.Ports[listener];

    public static async Task<GrpcBackendProcess> StartAsync(CancellationToken cancellationToken)
    {
        var process = await BackendProcess.StartAsync(["grpc-backend", "--listeners", Listeners.ToString(CultureInfo.InvariantCulture)], Listeners, cancellationToken);
        return new GrpcBackendProcess(process);
    }

    public async Task CollectGarbageAsync(CancellationToken cancellationToken) =>
        await _client.CollectAsync(new CollectRequest(), cancellationToken: cancellationToken);

    public async Task<StatsReply> StatsAsync(CancellationToken cancellationToken) =>
        await _client.StatsAsync(new StatsRequest(), cancellationToken: cancellationToken);

    public void Dispose()
    {
        _control.Dispose();
        _process.Dispose();
    }
}
