namespace Mesh.Registry.Store.Etcd;

/// <summary>
/// Remembers why the last request to etcd failed below gRPC (a refused connection, a TLS handshake etcd or the
/// registry rejected), until a request gets an answer again.
/// </summary>
/// <remarks>
/// gRPC retries such failures as <c>Unavailable</c> until the call's deadline, so the call itself ends as a timeout
/// that no longer says why; the registry's error names the cause from here instead.
/// </remarks>
internal sealed class EtcdTransportErrors(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private Exception? _last;

    /// <summary>The failure of the latest request if it failed; null once a request was answered.</summary>
    public Exception? Last => Volatile.Read(ref _last);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        try
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _last, null);
            return response;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            Volatile.Write(ref _last, ex);
            throw;
        }
    }
}
