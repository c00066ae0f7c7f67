using Mesh.Client.LoadBalancing;

namespace Mesh.Client.Http;

internal static class EndpointUri
{
    // The original URI was parsed and canonicalised when the caller made it; the authority comes from a validated
    // endpoint address. Parsing the result again would only repeat that work.
    private static readonly UriCreationOptions NoCanonicalization = new() { DangerousDisablePathAndQueryCanonicalization = true };

    /// <summary>The caller's URI with its scheme, host and port replaced by the endpoint's.</summary>
    public static Uri Rewrite(EndpointState endpoint, Uri original) =>
        new(string.Concat(endpoint.Authority, original.PathAndQuery), in NoCanonicalization);
}
