using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using dotnet_etcd;
using dotnet_etcd.interfaces;
using Grpc.Core;

namespace Mesh.Registry.Store.Etcd;

/// <summary>
/// The registry's connection to the etcd cluster: one gRPC channel over every member (dotnet-etcd's round-robin
/// channel, which steps past a member that is down), and every unary call bounded by <see cref="EtcdStoreOptions.RequestTimeout"/>.
/// </summary>
/// <remarks>
/// Deadlines run on the wall clock (<see cref="TimeProvider.System"/>) even when the registry's own clock is a test's:
/// etcd is a real peer, and a manual clock that never moves would let a call to a dead cluster hang for ever.
/// </remarks>
internal sealed class EtcdConnection : IDisposable
{
    private readonly EtcdClient _client;

    public EtcdConnection(EtcdStoreOptions options)
    {
        Timeout = options.RequestTimeout;
        var endpoints = string.Join(',', options.Endpoints);
        var tls = options.TrustedCaFile is not null || options.ClientCertificateFile is not null;
        _client = tls
            ? new EtcdClient(endpoints, ssl => ConfigureTls(ssl, options), configureChannelOptions: ConfigureChannel)
            : new EtcdClient(endpoints, configureChannelOptions: ConfigureChannel);
        if (options.Username is { Length: > 0 } user)
        {
            _client.SetCredentials(user, options.Password ?? string.Empty);
        }

        Raw = _client.GetConnection();
    }

    public IConnection Raw { get; }

    public TimeSpan Timeout { get; }

    /// <summary>Runs one unary call with the timeout; an etcd that cannot answer becomes <see cref="RegistryStoreUnavailableException"/> naming <paramref name="what"/>.</summary>
    public async Task<T> CallAsync<T>(string what, Func<CallOptions, AsyncUnaryCall<T>> call, CancellationToken cancellationToken = default)
    {
        using var timeout = new CancellationTokenSource(Timeout, TimeProvider.System);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            return await call(new CallOptions(cancellationToken: linked.Token)).ResponseAsync.ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new RegistryStoreUnavailableException($"etcd did not answer {what} within {Timeout.TotalSeconds:0.#} s (is a quorum of its members up?)", ex);
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Cancelled or StatusCode.Internal
                                          or StatusCode.Unknown or StatusCode.ResourceExhausted)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw new RegistryStoreUnavailableException($"etcd failed {what}: {ex.Status.Detail}", ex);
        }
    }

    public void Dispose() => _client.Dispose();

    private static void ConfigureChannel(Grpc.Net.Client.GrpcChannelOptions options)
    {
        // A full read of a large registry (100,000 instances) is one response per page; let pages be as large as etcd sends.
        options.MaxReceiveMessageSize = null;
    }

    private static void ConfigureTls(SslClientAuthenticationOptions ssl, EtcdStoreOptions options)
    {
        if (options.ClientCertificateFile is { } certificate && options.ClientKeyFile is { } key)
        {
            ssl.ClientCertificates = [X509Certificate2.CreateFromPemFile(certificate, key)];
        }

        if (options.TrustedCaFile is { } caFile)
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(caFile);
            ssl.RemoteCertificateValidationCallback = (_, presented, _, errors) =>
            {
                if (presented is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
                {
                    return false;
                }

                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(new X509Certificate2(presented));
            };
        }
    }
}
