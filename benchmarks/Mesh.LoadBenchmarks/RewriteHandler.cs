namespace Mesh.LoadBenchmarks;

/// <summary>
/// A naive client-side router, and nothing else: it sends each request to a new <see cref="Uri"/> built from the
/// endpoint's authority and the caller's path (the mesh keeps such URIs for repeated paths), with the Host header set
/// to the logical name and cleared afterwards. No routing table, no picker, no resilience.
/// </summary>
internal sealed class RewriteHandler(string authority, string host) : DelegatingHandler
{
    private static readonly UriCreationOptions NoCanonicalization = new() { DangerousDisablePathAndQueryCanonicalization = true };

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var original = request.RequestUri!;
        request.RequestUri = new Uri(string.Concat(authority, original.PathAndQuery), in NoCanonicalization);
        request.Headers.Host = host;
        try
        {
            return await base.SendAsync(request, cancellationToken);
        }
        finally
        {
            request.Headers.Host = null;
            request.RequestUri = original;
        }
    }
}
