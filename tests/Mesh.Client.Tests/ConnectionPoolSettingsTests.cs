using Mesh.Client.Runtime;
using Mesh.Testing;

namespace Mesh.Client.Tests;

/// <summary>A reload keeps a service's overflow limit (and the calls it counts) unless its settings changed.</summary>
public sealed class ConnectionPoolSettingsTests
{
    [Fact]
    public void The_limit_survives_a_reload_with_equal_settings_and_starts_afresh_when_they_change_or_are_removed()
    {
        var state = new ServiceState("reviews", new ManualTimeProvider());

        var first = state.ResolveConnectionPool(new ConnectionPoolOptions { MaxRequests = 2 }).ShouldNotBeNull();
        first.MaxPendingRequests.ShouldBe(0);
        using var lease = first.Limiter.AttemptAcquire();
        lease.IsAcquired.ShouldBeTrue();

        state.ResolveConnectionPool(new ConnectionPoolOptions { MaxRequests = 2, MaxPendingRequests = 0 }).ShouldBeSameAs(first);
        first.Limiter.GetStatistics()!.CurrentAvailablePermits.ShouldBe(1); // the call in flight still counts

        var changed = state.ResolveConnectionPool(new ConnectionPoolOptions { MaxRequests = 2, MaxPendingRequests = 3 }).ShouldNotBeNull();
        changed.ShouldNotBeSameAs(first);
        changed.Limiter.GetStatistics()!.CurrentAvailablePermits.ShouldBe(2);

        state.ResolveConnectionPool(new ConnectionPoolOptions()).ShouldBeNull();
        state.ResolveConnectionPool(new ConnectionPoolOptions { MaxRequests = 2, MaxPendingRequests = 3 }).ShouldNotBeSameAs(changed);
    }
}
