using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Mesh.Registry.Rollouts;

/// <summary>
/// The rollouts on the registry's meter: <c>mesh.rollout.weight</c> {service, canary} (the canary's weight now),
/// <c>mesh.rollout.state</c> {service, state} (1 for the state a rollout is in) and <c>mesh.rollout.decisions</c>
/// {service, verdict} (decisions made by this registry). Prometheus shows them as <c>mesh_rollout_weight</c> and so on.
/// </summary>
internal sealed class RolloutMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly Counter<long> _decisions;
    private readonly ConcurrentDictionary<string, (string Canary, int Weight, RolloutState State)> _latest = new(StringComparer.Ordinal);

    public RolloutMetrics(IMeterFactory meters)
    {
        _meter = meters.Create(RegistryMeter.Name);
        _decisions = _meter.CreateCounter<long>("mesh.rollout.decisions", "{decision}", "Rollout decisions made by this registry, by verdict.");
        _meter.CreateObservableGauge("mesh.rollout.weight", ObserveWeights, "%", "The canary's weight on the rolled-out route.");
        _meter.CreateObservableGauge("mesh.rollout.state", ObserveStates, "{rollout}", "1 for the state each service's rollout is in.");
    }

    /// <summary>Remembers what a rollout looks like now, for the gauges.</summary>
    public void Observe(RolloutStatus rollout) =>
        _latest[rollout.Service] = (rollout.Spec.Canary, rollout.State == RolloutState.Succeeded ? 100 : rollout.IsFinal ? 0 : rollout.Weight, rollout.State);

    public void Decided(string service, RolloutVerdict verdict) =>
        _decisions.Add(1, new KeyValuePair<string, object?>("service", service), new KeyValuePair<string, object?>("verdict", verdict.ToString()));

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<int>> ObserveWeights()
    {
        foreach (var (service, (canary, weight, _)) in _latest)
        {
            yield return new Measurement<int>(weight, new KeyValuePair<string, object?>("service", service), new KeyValuePair<string, object?>("canary", canary));
        }
    }

    private IEnumerable<Measurement<int>> ObserveStates()
    {
        foreach (var (service, (_, _, state)) in _latest)
        {
            yield return new Measurement<int>(1, new KeyValuePair<string, object?>("service", service), new KeyValuePair<string, object?>("state", state.ToString()));
        }
    }
}
