namespace Mesh.Registry.Store.Etcd;

/// <summary>
/// One service as this replica's mirror of etcd holds it; the indexes are etcd revisions (the instance set's is the
/// mod revision of its <c>instances-index/</c> key), and the guard's state comes from its <c>held/</c> and
/// <c>recent-expirations/</c> keys.
/// </summary>
internal sealed class EtcdServiceEntry(string name) : CatalogServiceEntry<EtcdInstanceEntry>(name)
{
    /// <summary>Whether the service is in the catalog: it has a policy or an instance reads return.</summary>
    public bool IsListed(DateTimeOffset now, bool showsExpired)
    {
        if (Policy?.Document is not null)
        {
            return true;
        }

        foreach (var i in Instances.Values)
        {
            if (IsShown(i, now, showsExpired))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether reads return the instance: its lease has not passed, or the guard holds the service's expired instances.</summary>
    public static bool IsShown(EtcdInstanceEntry instance, DateTimeOffset now, bool showsExpired) => showsExpired || instance.ExpiresAt > now;
}
