using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Mesh.Registry.Watches;

/// <summary>
/// How many watches each caller has parked, against <see cref="RegistryOptions.MaxWatchesPerCaller"/>: every parked
/// watch holds memory and is woken by every change it watches, so one credential must not park without bound. Only a
/// watch that parks takes a place (a read that answers at once costs nothing here), and an identity's entry is removed
/// when its last watch ends, so idle identities cost nothing either.
/// </summary>
internal sealed class WatchLimiter(IOptions<RegistryOptions> options)
{
    private readonly ConcurrentDictionary<WatcherKey, Count> _parked = new();

    public int Limit { get; } = options.Value.MaxWatchesPerCaller;

    /// <summary>Identities with a watch parked now (for tests: entries go when their count reaches zero).</summary>
    internal int Identities => _parked.Count;

    /// <summary>Watches parked now over every caller (for tests).</summary>
    internal int Parked
    {
        get
        {
            var parked = 0;
            foreach (var entry in _parked)
            {
                parked += Math.Max(0, Volatile.Read(ref entry.Value.Value));
            }

            return parked;
        }
    }

    /// <summary>Takes a place for one more parked watch of <paramref name="identity"/>; false when it has <see cref="Limit"/> already.</summary>
    public bool TryEnter(WatcherKey identity)
    {
        var spin = default(SpinWait);
        while (true)
        {
            var count = _parked.GetOrAdd(identity, static _ => new Count());
            var parked = Volatile.Read(ref count.Value);
            if (parked < 0)
            {
                // Its last watch just ended and the entry is being removed: the next look makes a new one.
                spin.SpinOnce();
                continue;
            }

            if (parked >= Limit)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref count.Value, parked + 1, parked) == parked)
            {
                return true;
            }
        }
    }

    /// <summary>Gives back a place taken by <see cref="TryEnter"/>.</summary>
    public void Exit(WatcherKey identity)
    {
        if (!_parked.TryGetValue(identity, out var count))
        {
            return;
        }

        // At zero the entry is marked dead (-1) before it is removed, so a concurrent TryEnter never counts on a
        // removed entry.
        if (Interlocked.Decrement(ref count.Value) == 0 && Interlocked.CompareExchange(ref count.Value, -1, 0) == 0)
        {
            _parked.TryRemove(new KeyValuePair<WatcherKey, Count>(identity, count));
        }
    }

    private sealed class Count
    {
        public int Value;
    }
}
