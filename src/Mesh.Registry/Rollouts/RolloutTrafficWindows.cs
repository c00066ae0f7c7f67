using System.Collections.Concurrent;
using Mesh.Client.Registry;

namespace Mesh.Registry.Rollouts;

/// <summary>
/// The open analysis windows, one per service with a running rollout, fed with every traffic report the instances send
/// with their renewals (each report covers the caller's traffic since its previous renewal, so reports add up without
/// overlap). A report counts in the window it arrives in. Memory only: a registry that starts again (or a replica that
/// takes over) opens the step's window anew.
/// </summary>
/// <remarks>
/// The p99 of a window is the reports' p99s weighted by their requests: the exact p99 of the union cannot be had from
/// per-report p99s, and the weighted mean follows it closely without letting one short, slow report fail a step.
/// </remarks>
internal sealed class RolloutTrafficWindows
{
    private readonly ConcurrentDictionary<string, RolloutTrafficWindow> _open = new(StringComparer.Ordinal);

    /// <summary>Opens (or replaces) the service's window.</summary>
    public RolloutTrafficWindow Open(string service, long id, string stableVersion, string canaryVersion) =>
        _open[service] = new RolloutTrafficWindow(id, stableVersion, canaryVersion);

    /// <summary>The service's window if it is the one named <paramref name="id"/>.</summary>
    public RolloutTrafficWindow? Find(string service, long id) => _open.TryGetValue(service, out var w) && w.Id == id ? w : null;

    public void Close(string service) => _open.TryRemove(service, out _);

    public void Add(TrafficStats stats)
    {
        if (_open.IsEmpty || stats.Destinations is not { } destinations)
        {
            return;
        }

        foreach (var d in destinations)
        {
            if (_open.TryGetValue(d.Service, out var window))
            {
                window.Add(d);
            }
        }
    }
}
