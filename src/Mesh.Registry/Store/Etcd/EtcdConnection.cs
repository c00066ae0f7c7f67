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
    private readonly EtcdStoreOptions _options;
    private EtcdTransportErrors? _transportErrors;

    // Why the last member certificate was refused, for the error: the handshake's own exception says only that it was.
    private string? _refusedCertificate;

    public EtcdConnection(EtcdStoreOptions options)
    {
        _options = options;
        Timeout = options.RequestTimeout;
        var endpoints = string.Join(',', options.Endpoints);
        // The channel's credentials alone decide TLS for every member, so the endpoints' scheme must decide them.
        var tls = options.Endpoints.Any(e => e.StartsWith("https://", StringComparison.OrdinalIgnoreCase));
        _client = tls
            ? new EtcdClient(endpoints, ConfigureTls, configureChannelOptions: ConfigureChannel)
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
            var cause = _transportErrors?.Last is { } failure ? $": {Describe(failure)}" : " (is a quorum of its members up?)";
            throw new RegistryStoreUnavailableException($"etcd did not answer {what} within {Timeout.TotalSeconds:0.#} s{cause}", ex);
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Cancelled or StatusCode.Internal
                                          or StatusCode.Unknown or StatusCode.ResourceExhausted)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw new RegistryStoreUnavailableException($"etcd failed {what}: {Describe(ex)}", ex);
        }
        catch (RpcException ex) when (IsAuthenticationFailure(ex))
        {
            throw new RegistryStoreUnavailableException($"etcd failed {what}: {Describe(ex)}", ex);
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.PermissionDenied or StatusCode.Unauthenticated)
        {
            throw new RegistryStoreUnavailableException(
                $"etcd refused {what}: {ex.Status.Detail} (the etcd user {_options.Username ?? "(none: MeshRegistry:Etcd:Username is not set)"} needs a role granting readwrite on the keys under {_options.Prefix})",
                ex);
        }
    }

    public void Dispose() => _client.Dispose();

    private void ConfigureChannel(Grpc.Net.Client.GrpcChannelOptions options)
    {
        // A full read of a large registry (100,000 instances) is one response per page; let pages be as large as etcd sends.
        options.MaxReceiveMessageSize = null;
        _transportErrors = new EtcdTransportErrors(options.HttpHandler!);
        options.HttpHandler = _transportErrors;
    }

    private void ConfigureTls(SslClientAuthenticationOptions ssl)
    {
        if (_options.ClientCertificateFile is { } certificate && _options.ClientKeyFile is { } key)
        {
            ssl.ClientCertificates = [X509Certificate2.CreateFromPemFile(certificate, key)];
        }

        X509Certificate2Collection? roots = null;
        if (_options.TrustedCaFile is { } caFile)
        {
            roots = [];
            roots.ImportFromPemFile(caFile);
        }

        ssl.RemoteCertificateValidationCallback = (_, presented, _, errors) =>
        {
            var refusal = Refusal(presented, errors, roots);
            Volatile.Write(ref _refusedCertificate, refusal);
            return refusal is null;
        };
    }

    /// <summary>Why the member's certificate is not to be trusted; null when it is.</summary>
    private string? Refusal(X509Certificate? presented, SslPolicyErrors errors, X509Certificate2Collection? roots)
    {
        if (presented is null)
        {
            return "the member presented no certificate";
        }

        if ((errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
        {
            return $"the member's certificate ({presented.Subject}) does not name the host it was reached at ({errors})";
        }

        if (roots is null)
        {
            return errors == SslPolicyErrors.None
                ? null
                : $"the member's certificate ({presented.Subject}, issued by {presented.Issuer}) is not trusted by this machine; set MeshRegistry:Etcd:TrustedCaFile to the CA that signed it";
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        return chain.Build(leaf)
            ? null
            : $"the member's certificate ({leaf.Subject}, issued by {leaf.Issuer}) does not chain to the CA in MeshRegistry:Etcd:TrustedCaFile ({_options.TrustedCaFile})";
    }

    /// <summary>Whether etcd refused the credentials themselves (a wrong password, an unknown user), not a permission.</summary>
    private static bool IsAuthenticationFailure(RpcException ex) =>
        ex.StatusCode is StatusCode.InvalidArgument or StatusCode.Unauthenticated or StatusCode.FailedPrecondition
        && (ex.Status.Detail.Contains("authentication failed", StringComparison.OrdinalIgnoreCase)
            || ex.Status.Detail.Contains("user name is empty", StringComparison.OrdinalIgnoreCase));

    /// <summary>What went wrong below gRPC, in the registry's words: which TLS check failed and which setting it concerns.</summary>
    private string Describe(Exception failure)
    {
        var handshake = false;
        var unreachable = false;
        var innermost = failure;
        for (var e = failure; e is not null; e = e.InnerException ?? (e as RpcException)?.Status.DebugException)
        {
            if (e is RpcException rejected && IsAuthenticationFailure(rejected))
            {
                // The library authenticates inside the call, so etcd's refusal of the credentials may arrive wrapped in another error.
                return _options.Username is null
                    ? $"etcd authentication is on, and MeshRegistry:Etcd:Username and Password are not set ({rejected.Status.Detail})"
                    : $"etcd authentication failed for user {_options.Username}: {rejected.Status.Detail} (check MeshRegistry:Etcd:Username and Password)";
            }

            handshake |= e is System.Security.Authentication.AuthenticationException or IOException;
            unreachable |= e is System.Net.Sockets.SocketException
            {
                SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused or System.Net.Sockets.SocketError.HostUnreachable
                    or System.Net.Sockets.SocketError.NetworkUnreachable or System.Net.Sockets.SocketError.TimedOut or System.Net.Sockets.SocketError.HostNotFound
            };
            if (e is not ObjectDisposedException)
            {
                // A stream the peer closed under the handshake reports itself disposed; the step above says what failed.
                innermost = e;
            }
        }

        if (handshake && !unreachable && Volatile.Read(ref _refusedCertificate) is { } reason)
        {
            return $"the TLS handshake with etcd failed: {reason}";
        }

        if (handshake && !unreachable && _options.Endpoints.Any(e => e.StartsWith("https://", StringComparison.OrdinalIgnoreCase)))
        {
            // A member that requires client certificates ends the handshake of a client without one it trusts; how
            // the registry sees that (an alert, a reset, an unfinished HTTP/2 preface) depends on timing.
            var certificate = _options.ClientCertificateFile is null
                ? "MeshRegistry:Etcd:ClientCertificateFile is not set"
                : $"is {_options.ClientCertificateFile} signed by a CA the members trust?";
            return $"etcd ended the TLS connection ({innermost.Message}); members that require client certificates do so to a client without one they trust: {certificate}";
        }

        // A refused connection may end the call at once (gRPC's "Error connecting to subchannel") or only at its deadline;
        // either way the cause is the same and so is the question to ask.
        return failure is RpcException rpc && !unreachable ? rpc.Status.Detail : $"{innermost.Message} (is a quorum of its members up?)";
    }
}
