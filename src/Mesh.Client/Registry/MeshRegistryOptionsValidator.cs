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
        if (registry.Url is { } url && (!url.IsAbsoluteUri || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)))
        {
            errors.Add($"{root}:Registry:Url: '{url}' must be an absolute http or https URL");
        }

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

        if (registry.Url is not null && registry.Register && string.IsNullOrEmpty(service.Name))
        {
            errors.Add($"{root}:Service:Name: required to register with the registry (or set {root}:Registry:Register to false)");
        }
    }
}
