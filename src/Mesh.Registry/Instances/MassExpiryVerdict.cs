namespace Mesh.Registry.Instances;

/// <summary>The mass-expiry guard's answer for one service at one instant (see <see cref="MassExpiryGuard"/>).</summary>
internal enum MassExpiryVerdict
{
    /// <summary>No lease has passed; a hold, if any, ends.</summary>
    NothingExpired,

    /// <summary>Remove the expired instances (they count in the window); a hold, if any, ends.</summary>
    Expire,

    /// <summary>Too large a share would go at once: keep the expired instances listed.</summary>
    Hold,

    /// <summary>The hold lasted <see cref="RegistryOptions.MassExpiryMaxHold"/>: remove the held instances (not counted in the window).</summary>
    ExpireAfterMaxHold,
}
