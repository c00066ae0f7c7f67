namespace Mesh.Client.Discovery.Consul;

/// <summary>Checks <c>Mesh:Discovery:Consul</c>, each error with its path.</summary>
internal static class ConsulDiscoveryValidator
{
    public static void Validate(ConsulDiscoveryOptions? consul, string path, List<string> errors)
    {
        if (consul is null)
        {
            return;
        }

        if (consul.Address is { } address && (!address.IsAbsoluteUri || (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps) ||
            address.UserInfo.Length > 0 || address.Query.Length > 0 || address.Fragment.Length > 0))
        {
            errors.Add($"{path}:Address: '{address}' must be an absolute http or https URL without user info, query or fragment (e.g. http://127.0.0.1:8500)");
        }

        if (consul.Address is null && (consul.Token is not null || consul.Datacenter is not null))
        {
            errors.Add($"{path}:Address: required when Token or Datacenter is set");
        }

        if (consul.Token is { } token && (token.Length is 0 or > 4096 || token.Any(char.IsControl)))
        {
            errors.Add($"{path}:Token: must be 1 to 4096 characters without control characters");
        }

        if (consul.Datacenter is { } dc && !MeshPolicyValidation.IsValidName(dc))
        {
            errors.Add($"{path}:Datacenter: '{dc}' is not a valid datacenter name (letters, digits, '-', '_' and '.', at most 63 characters)");
        }
    }
}
