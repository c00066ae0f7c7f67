namespace Mesh.LoadBenchmarks;

/// <summary>
/// How one nginx proxy is set up: where it listens and forwards, and which legs speak mTLS; with <see cref="Grpc"/>,
/// an h2c listener that forwards with <c>grpc_pass</c> (cleartext only).
/// </summary>
internal sealed record NginxProxySpec(string Name, int UpstreamPort, bool ListenMtls, bool UpstreamMtls, bool Grpc = false);
