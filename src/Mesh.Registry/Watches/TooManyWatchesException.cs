namespace Mesh.Registry.Watches;

/// <summary>
/// A watch would park while its caller has <see cref="Limit"/> parked already. Thrown by a store at the point where
/// the watch would wait, so a read that answers at once is never refused; the endpoint answers 429.
/// </summary>
internal sealed class TooManyWatchesException(int limit) : Exception($"The caller has {limit} watches parked already.")
{
    public int Limit { get; } = limit;
}
