using Mesh.Client.Registry;

namespace Mesh.Registry.Consul;

/// <summary>
/// An instance as Consul shows a service instance: the address's host is both the node and the service address, its
/// port the service port; the version and zone are tags <c>version=&lt;v&gt;</c> and <c>zone=&lt;z&gt;</c>, an https
/// address adds the tag <c>https</c> (Consul has no scheme), and the labels are the service meta. Its one check is the
/// lease: passing while renewed, critical once past it (an instance the mass-expiry guard still holds).
/// </summary>
internal sealed record ConsulInstance(InstanceRecord Record, string Host, int Port, List<string> Tags, bool Passing)
{
    public const string HttpsTag = "https";

    public static ConsulInstance From(InstanceRecord record, DateTimeOffset now)
    {
        var address = new Uri(record.Address);
        var tags = new List<string>(3);
        if (record.Version is not null)
        {
            tags.Add("version=" + record.Version);
        }

        if (record.Zone is not null)
        {
            tags.Add("zone=" + record.Zone);
        }

        if (address.Scheme == Uri.UriSchemeHttps)
        {
            tags.Add(HttpsTag);
        }

        return new ConsulInstance(record, address.IdnHost, address.Port, tags, record.ExpiresAt > now);
    }

    public bool HasTags(IReadOnlyList<string> tags)
    {
        foreach (var tag in tags)
        {
            if (!Tags.Contains(tag, StringComparer.Ordinal))
            {
                return false;
            }
        }

        return true;
    }
}
