using Mesh.Client.LoadBalancing;
using Mesh.Client.Resilience;
using Mesh.Client.Runtime;
using Mesh.Testing;

namespace Mesh.Client.Tests;

/// <summary>A reload keeps the breakers (and what they learnt) unless the service's breaker settings changed.</summary>
public sealed class BreakerSettingsTests
{
    [Fact]
    public void Breakers_survive_a_reload_with_equal_settings_and_start_afresh_when_they_change_or_are_turned_off()
    {
        var time = new ManualTimeProvider();
        var state = new ServiceState("reviews", time);
        var endpoint = new EndpointState(new Uri("http://127.0.0.1:5001"), new Dictionary<string, string>(), zone: null);
        EndpointState[] endpoints = [endpoint];
        var options = new CircuitBreakerOptions { FailureRatio = 0.5, MinimumThroughput = 10 };

        state.ResolveBreakers(CircuitBreakerModel.From(options), endpoints);
        var breaker = endpoint.BreakerFor("frontend", CircuitBreakerModel.From(options)!, time);

        // The same settings read again (a new model, equal by value): the breaker is kept.
        state.ResolveBreakers(CircuitBreakerModel.From(new CircuitBreakerOptions { FailureRatio = 0.5, MinimumThroughput = 10 }), endpoints);
        endpoint.Breakers["frontend"].ShouldBeSameAs(breaker);

        // Another ratio: breakers start afresh under it.
        state.ResolveBreakers(CircuitBreakerModel.From(new CircuitBreakerOptions { FailureRatio = 0.9, MinimumThroughput = 10 }), endpoints);
        endpoint.Breakers.ShouldBeEmpty();

        endpoint.BreakerFor("frontend", CircuitBreakerModel.From(options)!, time);
        state.ResolveBreakers(CircuitBreakerModel.From(new CircuitBreakerOptions { Enabled = false }), endpoints);
        endpoint.Breakers.ShouldBeEmpty("turning breakers off drops them");
        CircuitBreakerModel.From(new CircuitBreakerOptions { Enabled = false }).ShouldBeNull();
    }
}
