using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Serialization.Metadata;

namespace Mesh.Client.Registry;

/// <summary>
/// Talks to the registry's HTTP API over the shared <see cref="RegistryTransport"/> (its own transport, not an
/// <c>IHttpClientFactory</c> client, so the mesh never routes, retries or meshes its own control traffic). The
/// transport decides how each request authenticates: the workload's certificate, or the join token.
/// </summary>
internal sealed class RegistryClient : IDisposable
{
    private readonly HttpClient _http;

    public RegistryClient(RegistryTransport transport)
    {
        _http = new HttpClient(transport.CreateHandler())
        {
            BaseAddress = transport.BaseAddress,
            Timeout = Timeout.InfiniteTimeSpan, // long polls carry their own deadline
        };
    }

    public Uri BaseAddress => _http.BaseAddress!;

    public Task<InstancesResponse?> WatchInstancesAsync(string service, long index, TimeSpan wait, CancellationToken cancellationToken) =>
        GetAsync($"v1/services/{Uri.EscapeDataString(service)}/instances{Query(index, wait)}", RegistryJsonContext.Default.InstancesResponse, cancellationToken);

    public Task<PolicyResponse?> WatchPolicyAsync(string service, long index, TimeSpan wait, CancellationToken cancellationToken) =>
        GetAsync($"v1/policies/{Uri.EscapeDataString(service)}{Query(index, wait)}", RegistryJsonContext.Default.PolicyResponse, cancellationToken);

    public Task<ServicesResponse?> WatchServicesAsync(long index, TimeSpan wait, CancellationToken cancellationToken) =>
        GetAsync($"v1/services{Query(index, wait)}", RegistryJsonContext.Default.ServicesResponse, cancellationToken);

    /// <summary>
    /// Many services' states in one long poll (<c>POST /v1/watch</c>); without <paramref name="index"/> every named
    /// service's at once. A registry without the endpoint answers 404 (an <see cref="HttpRequestException"/> with that status).
    /// </summary>
    public async Task<ServicesWatchResponse?> WatchServiceStatesAsync(IReadOnlyCollection<string> services, long? index, TimeSpan wait,
        CancellationToken cancellationToken)
    {
        var query = index is { } i ? Query(i, wait) : string.Create(CultureInfo.InvariantCulture, $"?wait={(long)wait.TotalMilliseconds}ms");
        using var response = await _http.PostAsJsonAsync($"v1/watch{query}", new ServicesWatchRequest { Services = [.. services] },
            RegistryJsonContext.Default.ServicesWatchRequest, cancellationToken);
        await EnsureSuccessAsync(response, cancellationToken);
        return await response.Content.ReadFromJsonAsync(RegistryJsonContext.Default.ServicesWatchResponse, cancellationToken);
    }

    public async Task RegisterAsync(string service, string id, InstanceRegistration registration, CancellationToken cancellationToken)
    {
        using var response = await _http.PutAsJsonAsync($"v1/services/{Uri.EscapeDataString(service)}/instances/{Uri.EscapeDataString(id)}",
            registration, RegistryJsonContext.Default.InstanceRegistration, cancellationToken);
        await EnsureSuccessAsync(response, cancellationToken);
    }

    public async Task DeregisterAsync(string service, string id, CancellationToken cancellationToken)
    {
        using var response = await _http.DeleteAsync(new Uri($"v1/services/{Uri.EscapeDataString(service)}/instances/{Uri.EscapeDataString(id)}", UriKind.Relative),
            cancellationToken);
        if (response.StatusCode != System.Net.HttpStatusCode.NotFound)
        {
            await EnsureSuccessAsync(response, cancellationToken);
        }
    }

    public Task<TrustBundleResponse?> WatchTrustBundleAsync(long index, TimeSpan wait, CancellationToken cancellationToken) =>
        GetAsync($"v1/trust-bundle{Query(index, wait)}", RegistryJsonContext.Default.TrustBundleResponse, cancellationToken);

    /// <summary>Asks the registry's CA to sign a CSR for the service the join token belongs to.</summary>
    public async Task<CertificateResponse?> SignAsync(string csrPem, CancellationToken cancellationToken)
    {
        using var response = await _http.PostAsJsonAsync("v1/certificates", new CertificateSigningRequest { Csr = csrPem },
            RegistryJsonContext.Default.CertificateSigningRequest, cancellationToken);
        await EnsureSuccessAsync(response, cancellationToken);
        return await response.Content.ReadFromJsonAsync(RegistryJsonContext.Default.CertificateResponse, cancellationToken);
    }

    private async Task<T?> GetAsync<T>(string path, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
        await EnsureSuccessAsync(response, cancellationToken);
        return await response.Content.ReadFromJsonAsync(typeInfo, cancellationToken);
    }

    private static string Query(long index, TimeSpan wait) =>
        string.Create(CultureInfo.InvariantCulture, $"?index={index}&wait={(long)wait.TotalMilliseconds}ms");

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            // The problem body names what was wrong; keep a bounded part of it for the log.
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new HttpRequestException(
                $"Registry answered {(int)response.StatusCode} {response.ReasonPhrase}: {(body.Length > 500 ? body[..500] : body)}",
                null, response.StatusCode);
        }
    }

    public void Dispose() => _http.Dispose();
}
