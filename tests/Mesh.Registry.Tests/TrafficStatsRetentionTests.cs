using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary>
/// The traffic numbers renewals carry are kept per instance in memory, and only as long as the instance: a workload
/// that registers ids and lets their leases lapse must not grow the registry's memory, whether or not anyone reads
/// the dashboard.
/// </summary>
public sealed class TrafficStatsRetentionTests : IAsyncLifetime
{
    private readonly ManualTimeProvider _time = new();
    private RegistryHost _host = null!;

    public async Task InitializeAsync() =>
        _host = await RegistryHost.StartAsync(_time, settings => settings["MeshRegistry:MassExpiryThreshold"] = "1");

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static string Renewal(int port) => $$"""
        { "address": "http://127.0.0.1:{{port}}", "version": "v1", "ttlSeconds": 1,
          "stats": { "windowSeconds": 1, "destinations": [ { "service": "ratings", "version": "v1", "requests": 10, "errors": 0 } ] } }
        """;

    [Fact]
    public async Task An_expired_instance_takes_its_traffic_report_with_it()
    {
        var reviews = _host.Client(RegistryHost.ReviewsToken);
        for (var i = 0; i < 20; i++)
        {
            (await reviews.PutAsync(new Uri($"/v1/services/reviews/instances/r{i}", UriKind.Relative), Api.Json(Renewal(5000 + i))))
                .EnsureSuccessStatusCode();
        }

        _host.Traffic.Count.ShouldBe(20);

        _time.Advance(TimeSpan.FromSeconds(2));
        (await reviews.InstanceIdsAsync("reviews")).ShouldBeEmpty();

        // With etcd the report goes when this replica's mirror sees the expiry, which follows the read at once.
        await Poll.UntilAsync(() => _host.Traffic.Count == 0, because: "the expired instances' reports are dropped");
    }
}
