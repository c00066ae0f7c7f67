using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Serialization.Metadata;

namespace Mesh.Client.Registry;

/// <summary>
/// Talks to the registry's HTTP API over the shared <see cref="RegistryTransport"/> (its own transport, not an
/// <c>IHttpClientFactory</c> client, so the mesh never routes, retries or meshes its own control traffic). The
/// transport decides how each request authenticates: the workload's certificate, or the join token. Every call goes to
/// the transport's current replica (<see cref="RegistryFailover"/>) and, when that replica fails, to the next ones in
/// turn, once each, with the same request: a watch asks the next replica with the same index, which means the same
/// on every replica.
/// </summary>
internal sealed class RegistryClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly RegistryFailover _failover;
    private readonly TimeProvider _time;

    public RegistryClient(RegistryTransport transport, TimeProvider time)
    {
        _failover = transport.Failover;
        _time = time;
        _http = new HttpClient(transport.CreateHandler())
        {
            Timeout = Timeout.InfiniteTimeSpan, // long polls carry their own deadline, and the failover its own
        };
    }

    /// <summary>The replica calls go to now.</summary>
    public Uri? Replica => _failover.Current;

    public Task<InstancesResponse?> WatchInstancesAsync(string service, long index, TimeSpan wait, CancellationToken cancellationToken) =>
        GetAsync($"v1/services/{Uri.EscapeDataString(service)}/instances{Query(index, wait)}", wait, RegistryJsonContext.Default.InstancesResponse, cancellationToken);

    public Task<PolicyResponse?> WatchPolicyAsync(string service, long index, TimeSpan wait, CancellationToken cancellationToken) =>
        GetAsync($"v1/policies/{Uri.EscapeDataString(service)}{Query(index, wait)}", wait, RegistryJsonContext.Default.PolicyResponse, cancellationToken);

    public Task<ServicesResponse?> WatchServicesAsync(long index, TimeSpan wait, CancellationToken cancellationToken) =>
        GetAsync($"v1/services{Query(index, wait)}", wait, RegistryJsonContext.Default.ServicesResponse, cancellationToken);

    public Task<TrustBundleResponse?> WatchTrustBundleAsync(long index, TimeSpan wait, CancellationToken cancellationToken) =>
        GetAsync($"v1/trust-bundle{Query(index, wait)}", wait, RegistryJsonContext.Default.TrustBundleResponse, cancellationToken);

    /// <summary>
    /// Many services' states in one long poll (<c>POST /v1/watch</c>); without <paramref name="index"/> every named
    /// service's at once. A registry without the endpoint answers 404 (an <see cref="HttpRequestException"/> with that status).
    /// </summary>
    public Task<ServicesWatchResponse?> WatchServiceStatesAsync(IReadOnlyCollection<string> services, long? index, TimeSpan wait,
        CancellationToken cancellationToken)
    {
        var query = index is { } i ? Query(i, wait) : string.Create(CultureInfo.InvariantCulture, $"?wait={(long)wait.TotalMilliseconds}ms");
        var body = new ServicesWatchRequest { Services = [.. services] };
        return SendAsync(HttpMethod.Post, $"v1/watch{query}", () => JsonContent.Create(body, RegistryJsonContext.Default.ServicesWatchRequest), wait,
            static async (response, ct) =>
            {
                await EnsureSuccessAsync(response, ct);
                return await response.Content.ReadFromJsonAsync(RegistryJsonContext.Default.ServicesWatchResponse, ct);
            },
            cancellationToken);
    }

    public Task RegisterAsync(string service, string id, InstanceRegistration registration, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Put, $"v1/services/{Uri.EscapeDataString(service)}/instances/{Uri.EscapeDataString(id)}",
            () => JsonContent.Create(registration, RegistryJsonContext.Default.InstanceRegistration), TimeSpan.Zero,
            static async (response, ct) =>
            {
                await EnsureSuccessAsync(response, ct);
                return true;
            },
            cancellationToken);

    public Task DeregisterAsync(string service, string id, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Delete, $"v1/services/{Uri.EscapeDataString(service)}/instances/{Uri.EscapeDataString(id)}", null, TimeSpan.Zero,
            static async (response, ct) =>
            {
                if (response.StatusCode != HttpStatusCode.NotFound)
                {
                    await EnsureSuccessAsync(response, ct);
                }

                return true;
            },
            cancellationToken);

    /// <summary>Asks the registry's CA to sign a CSR for the service the join token belongs to.</summary>
    public Task<CertificateResponse?> SignAsync(string csrPem, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, "v1/certificates",
            () => JsonContent.Create(new CertificateSigningRequest { Csr = csrPem }, RegistryJsonContext.Default.CertificateSigningRequest), TimeSpan.Zero,
            static async (response, ct) =>
            {
                await EnsureSuccessAsync(response, ct);
                return await response.Content.ReadFromJsonAsync(RegistryJsonContext.Default.CertificateResponse, ct);
            },
            cancellationToken);

    private Task<T?> GetAsync<T>(string path, TimeSpan wait, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, path, null, wait,
            async (response, ct) =>
            {
                await EnsureSuccessAsync(response, ct);
                return await response.Content.ReadFromJsonAsync(typeInfo, ct);
            },
            cancellationToken);

    /// <summary>
    /// Sends one request to the current replica and, while replicas fail, to the next ones, each once, waiting the
    /// failover's backoff in between; the last failure is thrown when every replica has failed. An answer that is not
    /// a sign of an unavailable replica (a 4xx among them) is read by <paramref name="read"/>, wherever it came from.
    /// </summary>
    private async Task<T> SendAsync<T>(HttpMethod method, string path, Func<HttpContent>? content, TimeSpan wait,
        Func<HttpResponseMessage, CancellationToken, Task<T>> read, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var replica = _failover.Current ?? throw new InvalidOperationException("No registry is configured.");
            var (answered, result, failure) = await AttemptAsync(replica, method, path, content, wait, read, cancellationToken);
            if (answered)
            {
                return result!;
            }

            var delay = _failover.Failed(replica, failure!.Message);
            if (attempt >= _failover.Replicas.Count)
            {
                throw failure;
            }

            await Task.Delay(delay, _time, cancellationToken);
        }
    }

    /// <summary>One call at <paramref name="replica"/>: its answer read, or why the replica failed (a caller's cancellation is thrown).</summary>
    private async Task<(bool Answered, T? Result, HttpRequestException? Failure)> AttemptAsync<T>(Uri replica, HttpMethod method, string path,
        Func<HttpContent>? content, TimeSpan wait, Func<HttpResponseMessage, CancellationToken, Task<T>> read, CancellationToken cancellationToken)
    {
        // With one replica there is nowhere else to go, so a call waits for it as long as its caller does (and arms no
        // timer on the app's clock).
        var timeout = wait + RegistryFailover.AttemptTimeout;
        using var deadline = _failover.HasAlternatives ? new CancellationTokenSource(timeout, _time) : null;
        using var linked = deadline is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        var token = linked?.Token ?? cancellationToken;
        try
        {
            using var request = new HttpRequestMessage(method, new Uri(replica, path)) { Content = content?.Invoke() };
            using var response = await _http.SendAsync(request, token);
            if (!RegistryFailover.IsUnavailable(response.StatusCode))
            {
                _failover.Succeeded(replica);
                return (true, await read(response, cancellationToken), null);
            }

            var body = await response.Content.ReadAsStringAsync(token);
            return (false, default, new HttpRequestException($"Registry at {replica} answered {(int)response.StatusCode} {response.ReasonPhrase}: {Bounded(body)}",
                null, response.StatusCode));
        }
        catch (OperationCanceledException ex) when (deadline is { IsCancellationRequested: true } && !cancellationToken.IsCancellationRequested)
        {
            return (false, default, new HttpRequestException(
                string.Create(CultureInfo.InvariantCulture, $"Registry at {replica} did not answer within {timeout.TotalSeconds:F0} s"), ex));
        }
        catch (HttpRequestException ex) when (ex.StatusCode is null && !cancellationToken.IsCancellationRequested)
        {
            return (false, default, ex); // no connection, a broken one, or a server that is not the pinned registry
        }
        catch (IOException ex) when (!cancellationToken.IsCancellationRequested)
        {
            return (false, default, new HttpRequestException($"Registry at {replica}: {ex.Message}", ex));
        }
    }

    private static string Query(long index, TimeSpan wait) =>
        string.Create(CultureInfo.InvariantCulture, $"?index={index}&wait={(long)wait.TotalMilliseconds}ms");

    private static string Bounded(string body) => body.Length > 500 ? body[..500] : body;

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            // The problem body names what was wrong; keep a bounded part of it for the log.
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new HttpRequestException($"Registry answered {(int)response.StatusCode} {response.ReasonPhrase}: {Bounded(body)}", null, response.StatusCode);
        }
    }

    public void Dispose() => _http.Dispose();
}
