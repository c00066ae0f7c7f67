namespace Mesh.Registry.Instances;

/// <summary>
/// The mass-expiry guard's rule, one for every store: a network blip at the registry must not empty the mesh, so when
/// more than <see cref="RegistryOptions.MassExpiryThreshold"/> of a service's instances would be gone within one lease
/// window, the expired ones are held instead of removed, until renewals bring the share back under the threshold or
/// <see cref="RegistryOptions.MassExpiryMaxHold"/> passes.
/// </summary>
internal static class MassExpiryGuard
{
    /// <summary>
    /// What to do with a service's <paramref name="expiring"/> instances whose leases have passed, out of
    /// <paramref name="instances"/> listed, when <paramref name="recentExpirations"/> others expired within the last
    /// lease window (the longest TTL among its instances) and the guard has held the service since
    /// <paramref name="heldSince"/> (null: it does not). Counting the window matters: deadlines a second apart are one event.
    /// </summary>
    public static MassExpiryVerdict Judge(RegistryOptions options, int expiring, int instances, int recentExpirations, DateTimeOffset? heldSince,
        DateTimeOffset now)
    {
        if (expiring == 0)
        {
            return MassExpiryVerdict.NothingExpired;
        }

        if (heldSince is { } since && now - since >= options.MassExpiryMaxHold)
        {
            return MassExpiryVerdict.ExpireAfterMaxHold;
        }

        return expiring + recentExpirations > options.MassExpiryThreshold * (instances + recentExpirations)
            ? MassExpiryVerdict.Hold
            : MassExpiryVerdict.Expire;
    }
}
