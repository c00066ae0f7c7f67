namespace Mesh.Registry.Watches;

/// <summary>
/// Which service each of the catalog's last changes touched, numbered in order, so that a watch of many services
/// woken by a change looks only at the changes since its last look rather than at every service it names. Used under
/// the owning store's lock.
/// </summary>
internal sealed class RecentChanges
{
    private readonly string?[] _ring = new string?[4096];

    /// <summary>How many changes have been counted; the number of the latest.</summary>
    public long Count { get; private set; }

    public void Add(string service)
    {
        Count++;
        _ring[Count % _ring.Length] = service;
    }

    /// <summary>Everything may have changed (the store reloaded): no earlier look can rely on the ring any more.</summary>
    public void ForgetAll() => Count += _ring.Length + 1;

    /// <summary>
    /// Whether a service in <paramref name="named"/> was touched by a change after number <paramref name="looked"/>;
    /// null when some of those changes have left the ring (or there was no earlier look), and the caller must read.
    /// </summary>
    public bool? TouchedAfter(long looked, HashSet<string> named)
    {
        if (looked < 0 || Count - looked > _ring.Length)
        {
            return null;
        }

        for (var c = looked + 1; c <= Count; c++)
        {
            if (named.Contains(_ring[c % _ring.Length]!))
            {
                return true;
            }
        }

        return false;
    }
}
