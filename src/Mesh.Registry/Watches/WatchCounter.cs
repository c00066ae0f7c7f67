namespace Mesh.Registry.Watches;

/// <summary>How many watches are parked right now, for the registry's gauge.</summary>
internal sealed class WatchCounter
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public void Enter() => Interlocked.Increment(ref _count);

    public void Exit() => Interlocked.Decrement(ref _count);
}
