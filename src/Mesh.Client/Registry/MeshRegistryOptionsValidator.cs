using Mesh.Client.Configuration;

namespace Mesh.Client.Registry;

/// <summary>
/// Checks <c>Mesh:Registry</c>: the URLs, how it is reached safely (<see cref="RegistryTransportValidator"/>), the
/// instance id, lease and drain delay, and that an app registering has a service name.
/// </summary>
internal static class MeshRegistryOptionsValidator
{
    public static void Validate(MeshRegistryOptions registry, ServiceIdentityOptions service, string root, List<string> errors)
    {
        if (registry.Url is { } url && !IsHttpUrl(url))
        {
            errors.Add($"{root}:Registry:Url: '{url}' must be an absolute http or https URL");
        }

        ValidateReplicas(registry, root, errors);

        RegistryTransportValidator.Validate(registry, root, errors);

        if (registry.InstanceId is { } instanceId && !PolicyValidator.IsValidName(instanceId))
        {
            errors.Add($"{root}:Registry:InstanceId: '{instanceId}' is not a valid instance id (letters, digits, '-', '_' and '.', at most 63 characters)");
        }

        if (registry.AdvertiseAddress is { } advertise &&
            (!advertise.IsAbsoluteUri || (advertise.Scheme != Uri.UriSchemeHttp && advertise.Scheme != Uri.UriSchemeHttps) || advertise.AbsolutePath != "/"))
        {
            errors.Add($"{root}:Registry:AdvertiseAddress: '{advertise}' must be an absolute http or https URL without a path");
        }

        if (registry.TtlSeconds is < 3 or > 3600)
        {
            errors.Add($"{root}:Registry:TtlSeconds: {registry.TtlSeconds} must be between 3 and 3600");
        }

        if (registry.DrainDelay < TimeSpan.Zero || registry.DrainDelay > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{root}:Registry:DrainDelay: {registry.DrainDelay} must be between 00:00:00 and 00:05:00");
        }

        if (registry.IsConfigured && registry.Register && string.IsNullOrEmpty(service.Name))
        {
            errors.Add($"{root}:Service:Name: required to register with the registry (or set {root}:Registry:Register to false)");
        }
    }

    /// <summary><c>Urls</c>: not with <c>Url</c>, each an http(s) URL listed once, all with the first one's scheme.</summary>
    private static void ValidateReplicas(MeshRegistryOptions registry, string root, List<string> errors)
    {
        var path = $"{root}:Registry:Urls";
        var urls = registry.Urls;
        if (urls is null)
        {
            errors.Add($"{path}: must not be null");
            return;
        }

        if (registry.Url is not null && urls.Count > 0)
        {
            errors.Add($"{path}: set {root}:Registry:Url (one registry) or {path} (its replicas), not both");
        }

        string? scheme = null;
        for (var i = 0; i < urls.Count; i++)
        {
            var url = urls[i];
            if (url is null)
            {
                errors.Add($"{path}:{i}: must not be null");
                continue;
            }

            if (!IsHttpUrl(url))
            {
                errors.Add($"{path}:{i}: '{url}' must be an absolute http or https URL");
                continue;
            }

            for (var j = 0; j < i; j++)
            {
                if (urls[j] == url)
                {
                    errors.Add($"{path}:{i}: '{url}' is listed twice (also {path}:{j})");
                    break;
                }
            }

            scheme ??= url.Scheme;
            if (url.Scheme != scheme)
            {
                errors.Add($"{path}:{i}: '{url}' is {url.Scheme} but the replicas before it are {scheme}: the replicas of one registry are reached the same way");
            }
        }
    }

    private static bool IsHttpUrl(Uri url) => url.IsAbsoluteUri && (url.Scheme == Uri.UriSchemeHttp || url.Scheme == Uri.UriSchemeHttps);
}
