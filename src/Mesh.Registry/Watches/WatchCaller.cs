namespace Mesh.Registry.Watches;

/// <summary>
/// Whose watch this is, for <see cref="WatchLimiter"/>: a store takes the caller's place when the watch parks and gives
/// it back when the watch ends. <see cref="Unlimited"/> (the admin, the registry's own reads) takes none.
/// </summary>
internal readonly record struct WatchCaller(WatchLimiter? Limiter, WatcherKey Key)
{
    public static WatchCaller Unlimited => default;

    /// <summary>
    /// What a caller's watches count against: its service (a join token, a mesh certificate) from the address it calls
    /// from; nothing for the admin.
    /// </summary>
    public static WatchCaller Of(RegistryCaller caller, HttpContext context, WatchLimiter limiter) =>
        caller.IsAdmin || caller.Service is null
            ? Unlimited
            : new WatchCaller(limiter, new WatcherKey(caller.Service, RemoteAddressKey.Of(context.Connection.RemoteIpAddress)));

    /// <summary>Takes a place for a watch about to park; throws <see cref="TooManyWatchesException"/> when the caller has none left.</summary>
    public void Park()
    {
        if (Limiter is not null && !Limiter.TryEnter(Key))
        {
            throw new TooManyWatchesException(Limiter.Limit);
        }
    }

    /// <summary>Gives back the place <see cref="Park"/> took.</summary>
    public void Unpark() => Limiter?.Exit(Key);
}
