namespace Mesh.Client.Configuration;

/// <summary>Checks a service's static <c>Endpoints</c>: absolute http(s) addresses without a path, none listed twice.</summary>
internal static class EndpointsValidator
{
    public static void Validate(IList<EndpointOptions> endpoints, string path, List<string> errors)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < endpoints.Count; i++)
        {
            var ep = endpoints[i];
            var epPath = $"{path}:{i}:Address";
            if (ep?.Address is not { } address)
            {
                // The reader already reported unparsable addresses; only report a truly missing one once.
                if (ep is null || !errors.Exists(e => e.StartsWith(epPath, StringComparison.Ordinal)))
                {
                    errors.Add($"{epPath}: required");
                }

                continue;
            }

            if (!address.IsAbsoluteUri || (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps))
            {
                errors.Add($"{epPath}: '{address}' must be an absolute http or https URL");
            }
            else if (address.AbsolutePath != "/" || address.Query.Length > 0 || address.Fragment.Length > 0)
            {
                errors.Add($"{epPath}: '{address}' must be scheme, host and port only, without a path or query");
            }
            else if (!seen.Add(address.GetLeftPart(UriPartial.Authority)))
            {
                errors.Add($"{epPath}: '{address}' is listed twice");
            }
        }
    }
}
