using Mesh.Client.LoadBalancing;

namespace Mesh.Client.Http;

/// <summary>
/// Builds the URI an attempt is sent to: the caller's path and query on the endpoint's scheme, host and port.
/// </summary>
/// <remarks>
/// <para>
/// A new <see cref="Uri"/> per attempt is most of what client-side routing costs per request: the string, the parse,
/// and then the transport asking the new URI for its host and path, which a Uri computes once and keeps (about 350 B
/// and 250 ns together). Calls to one service mostly repeat a handful of paths (gRPC methods, health checks, fixed
/// REST resources), so each endpoint keeps a few rewritten URIs in a small direct-mapped table and hands one out again
/// for the same path.
/// </para>
/// <para>
/// What is kept, and for how long, is bounded and deliberate:
/// <list type="bullet">
/// <item>Only a path seen twice in a row in its slot is kept: a path that never repeats (<c>/orders/{id}</c>) costs an
/// int written to the slot, not a long-lived table holding every new URI alive past a collection.</item>
/// <item>No URI with a query is kept: queries are where callers put tokens and personal data, and where they put what
/// changes per request anyway.</item>
/// <item>No path over <see cref="MaxCachedPathLength"/> characters is kept, so one endpoint holds at most
/// <see cref="CacheSlots"/> short URIs (a few KB, whatever callers send).</item>
/// </list>
/// </para>
/// <para>
/// A Uri is immutable and safe to share between threads, so no lock is needed: a slot is replaced whole, and a reader
/// sees either the old URI or the new one and checks its path before use.
/// </para>
/// </remarks>
internal static class EndpointUri
{
    /// <summary>Slots per endpoint; a power of two.</summary>
    internal const int CacheSlots = EndpointState.RewriteCacheSlots;

    /// <summary>The longest path (in characters) an endpoint keeps a rewritten URI for.</summary>
    internal const int MaxCachedPathLength = 128;

    // The original URI was parsed and canonicalised when the caller made it; the authority comes from a validated
    // endpoint address. Parsing the result again would only repeat that work.
    private static readonly UriCreationOptions NoCanonicalization = new() { DangerousDisablePathAndQueryCanonicalization = true };

    /// <summary>The caller's URI with its scheme, host and port replaced by the endpoint's.</summary>
    public static Uri Rewrite(EndpointState endpoint, Uri original)
    {
        // The key is the path and query as the original URI gives them (computed once per Uri instance and kept by
        // it), not the string the caller wrote: two URIs written alike but parsed with different options can differ.
        var pathAndQuery = original.PathAndQuery;
        if (pathAndQuery.Length > MaxCachedPathLength || pathAndQuery.Contains('?', StringComparison.Ordinal))
        {
            return Create(endpoint, pathAndQuery);
        }

        // Any hash does: a collision, even a chosen one, costs a rewrite, never a wrong URI.
        var hash = pathAndQuery.GetHashCode();
        var index = hash & (CacheSlots - 1);
        ref var slot = ref endpoint.RewrittenUris[index];
        var cached = Volatile.Read(ref slot);
        if (cached is not null && string.Equals(cached.PathAndQuery, pathAndQuery, StringComparison.Ordinal))
        {
            return cached;
        }

        var created = Create(endpoint, pathAndQuery);
        ref var lastMiss = ref endpoint.RewriteMisses[index];
        if (Volatile.Read(ref lastMiss) == hash)
        {
            Volatile.Write(ref slot, created);
        }
        else
        {
            Volatile.Write(ref lastMiss, hash);
        }

        return created;
    }

    private static Uri Create(EndpointState endpoint, string pathAndQuery) =>
        new(string.Concat(endpoint.Authority, pathAndQuery), in NoCanonicalization);
}
