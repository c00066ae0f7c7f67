namespace Mesh.Registry.Watches;

/// <summary>
/// Whose parked watches are counted together: one service's credential (join token or mesh certificate) from one
/// address. A service's instances share its credential but each runs on an address of its own, so the count follows
/// an app, not the size of its service; one host (IPv6: one /64) holding a credential gets one count.
/// </summary>
internal readonly record struct WatcherKey(string Service, RemoteAddressKey Address);
