using System.Diagnostics.Metrics;
using System.Net;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;

namespace Mesh.Registry.Tests;

public sealed class LeaseTests : IAsyncLifetime
{
    private static readonly TimeSpan Tick = TimeSpan.FromTicks(1);
    private readonly ManualTimeProvider _time = new();
    private RegistryHost _host = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _host = await RegistryHost.StartAsync(_time);
        _client = _host.Admin;
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    /// <summary>Registers or renews an instance of reviews; the index of reviews' instance set after it.</summary>
    private async Task<long> RegisterAsync(string id, int ttl = 10) =>
        await _client.RegisterIndexAsync("reviews", id, $"http://127.0.0.1:{5000 + id[0]}", ttl);

    private static long Sum(MetricCollector<long> counter) => counter.GetMeasurementSnapshot().Sum(m => m.Value);

    [Fact]
    public async Task A_lease_expires_exactly_at_its_ttl_not_before()
    {
        await RegisterAsync("a");
        await RegisterAsync("b");
        var index = await RegisterAsync("c");
        _time.Advance(TimeSpan.FromSeconds(5));
        (await RegisterAsync("b")).ShouldBe(index);
        (await RegisterAsync("c")).ShouldBe(index);

        var watch = _client.GetJsonAsync($"/v1/services/reviews/instances?index={index}&wait=5m");
        await Poll.UntilAsync(() => _host.Store.WaitingWatches == 1);

        _time.Advance(TimeSpan.FromSeconds(5) - Tick);
        (await _client.InstanceIdsAsync("reviews")).ShouldBe(["a", "b", "c"]);
        watch.IsCompleted.ShouldBeFalse();

        // The sweep timer fires at the deadline and wakes the watch with the new index.
        _time.Advance(Tick);
        var answer = await watch.WaitAsync(TimeSpan.FromSeconds(10));
        answer.Index().ShouldBeGreaterThan(index);
        answer.GetProperty("instances").EnumerateArray().Select(i => i.GetProperty("id").GetString()).ShouldBe(["b", "c"]);

        // The renewed ones run to their own deadline, ten seconds after their renewal.
        _time.Advance(TimeSpan.FromSeconds(5) - Tick);
        (await _client.InstanceIdsAsync("reviews")).ShouldBe(["b", "c"]);
    }

    [Fact]
    public async Task Each_renewal_extends_the_lease_by_the_ttl()
    {
        await using var host = await RegistryHost.StartAsync(_time, s => s["MeshRegistry:MassExpiryThreshold"] = "1");
        var client = host.Admin;
        (await client.RegisterAsync("reviews", "only", "http://127.0.0.1:5001", ttl: 10)).Dispose();
        for (var i = 0; i < 5; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(9));
            (await client.RegisterAsync("reviews", "only", "http://127.0.0.1:5001", ttl: 10)).StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        _time.Advance(TimeSpan.FromSeconds(10) - Tick);
        (await client.InstanceIdsAsync("reviews")).ShouldBe(["only"]);
        var expiresAt = (await client.GetJsonAsync("/v1/services/reviews/instances")).GetProperty("instances")[0].GetProperty("expiresAt").GetDateTimeOffset();
        expiresAt.ShouldBe(_time.GetUtcNow() + Tick);
        _time.Advance(Tick);
        (await client.InstanceIdsAsync("reviews")).ShouldBeEmpty();
    }

    [Fact]
    public async Task Reads_never_show_a_passed_lease_even_when_the_sweep_timer_is_late()
    {
        var frozen = new TimersNeverFire(_time);
        await using var host = await RegistryHost.StartAsync(frozen, s => s["MeshRegistry:MassExpiryThreshold"] = "1");
        var client = host.Admin;
        (await client.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001", ttl: 10)).Dispose();
        _time.Advance(TimeSpan.FromSeconds(10));
        (await client.InstanceIdsAsync("reviews")).ShouldBeEmpty();
        var services = await client.GetJsonAsync("/v1/services");
        services.GetProperty("services").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task The_guard_lets_a_minority_expire()
    {
        using var expired = RegistryCounter("mesh.registry.instances.expired");
        using var activations = RegistryCounter("mesh.registry.expiry_guard.activations");
        foreach (var id in new[] { "a", "b", "c", "d", "e" })
        {
            await RegisterAsync(id);
        }

        _time.Advance(TimeSpan.FromSeconds(5));
        foreach (var id in new[] { "c", "d", "e" })
        {
            await RegisterAsync(id);
        }

        _time.Advance(TimeSpan.FromSeconds(5));
        (await _client.InstanceIdsAsync("reviews")).ShouldBe(["c", "d", "e"]);

        // A store may decide expiry apart from its reads (etcd: its decider), so the count can follow the read.
        await Poll.UntilAsync(() => Sum(expired) >= 2, because: "the two expiries are counted");
        Sum(expired).ShouldBe(2);
        activations.GetMeasurementSnapshot().Count.ShouldBe(0);
        _host.Logs.GetSnapshot().ShouldNotContain(e => e.Level == LogLevel.Warning);
    }

    [Fact]
    public async Task The_guard_holds_a_majority_logs_a_warning_and_counts_it()
    {
        using var expired = RegistryCounter("mesh.registry.instances.expired");
        using var activations = RegistryCounter("mesh.registry.expiry_guard.activations");
        var index = 0L;
        foreach (var id in new[] { "a", "b", "c", "d", "e" })
        {
            index = await RegisterAsync(id);
        }

        _time.Advance(TimeSpan.FromSeconds(5));
        (await RegisterAsync("e")).ShouldBe(index);
        _time.Advance(TimeSpan.FromSeconds(5));

        // Four of five would expire at once: a blip, not four crashes. They stay listed, with their passed deadlines.
        var answer = await _client.GetJsonAsync("/v1/services/reviews/instances");
        answer.GetProperty("instances").GetArrayLength().ShouldBe(5);
        answer.Index().ShouldBe(index);
        var summary = (await _client.GetJsonAsync("/v1/services")).GetProperty("services")[0];
        summary.GetProperty("instances").GetInt32().ShouldBe(5);
        summary.GetProperty("heldInstances").GetInt32().ShouldBe(4);

        // A store may record the guard's verdict apart from its reads (etcd: its decider writes the hold, which the
        // gauges show once it is back, and may sweep before its mirror has applied e's acknowledged renewal, counting e
        // held until it has), so the gauges are waited for and everything else is checked after them.
        await Poll.UntilAsync(() => Gauges(_host)["mesh.registry.expiry_guard.held_services"] == 1 &&
                                    Gauges(_host)["mesh.registry.expiry_guard.held_instances"] == 4, because: "the hold of four is recorded");
        activations.GetMeasurementSnapshot().Count(m => m.ContainsTags(new KeyValuePair<string, object?>("service", "reviews"))).ShouldBe(1);
        Sum(expired).ShouldBe(0);
        _host.Logs.GetSnapshot().ShouldContain(e => e.Level == LogLevel.Warning && e.Message.Contains("Mass-expiry guard", StringComparison.Ordinal) &&
                                              e.Message.Contains("reviews", StringComparison.Ordinal));

        // The owners come back. After one renewal three of five would still expire: held.
        (await RegisterAsync("a")).ShouldBe(index);
        (await _client.InstanceIdsAsync("reviews")).Count.ShouldBe(5);
        (await _client.GetJsonAsync("/v1/services")).GetProperty("services")[0].GetProperty("heldInstances").GetInt32().ShouldBe(3);

        // After the second, two of five: no longer more than half, so the guard lets those two go. Their expiry is a
        // change like any other, though the clock stands still: it moves the index and wakes watches.
        var watch = _client.GetJsonAsync($"/v1/services/reviews/instances?index={index}&wait=5m");
        await Poll.UntilAsync(() => _host.Store.WaitingWatches == 1);
        await RegisterAsync("b");
        (await _client.InstanceIdsAsync("reviews")).ShouldBe(["a", "b", "e"]);
        (await _client.GetJsonAsync("/v1/services")).GetProperty("services")[0].GetProperty("heldInstances").GetInt32().ShouldBe(0);
        var woken = await watch.WaitAsync(TimeSpan.FromSeconds(10));
        woken.Index().ShouldBeGreaterThan(index);
        woken.GetProperty("instances").EnumerateArray().Select(i => i.GetProperty("id").GetString()).ShouldBe(["a", "b", "e"]);
        await Poll.UntilAsync(() => Sum(expired) >= 2, because: "the two released instances expire");
        Sum(expired).ShouldBe(2);
        await Poll.UntilAsync(() => Gauges(_host)["mesh.registry.expiry_guard.held_services"] == 0, because: "the hold is lifted");
    }

    [Fact]
    public async Task Held_instances_whose_owners_never_return_go_after_the_max_hold()
    {
        foreach (var id in new[] { "a", "b", "c" })
        {
            await RegisterAsync(id);
        }

        _time.Advance(TimeSpan.FromSeconds(10));
        (await _client.InstanceIdsAsync("reviews")).Count.ShouldBe(3);

        _time.Advance(TimeSpan.FromMinutes(5) - Tick);
        (await _client.InstanceIdsAsync("reviews")).Count.ShouldBe(3);
        _time.Advance(Tick);
        (await _client.InstanceIdsAsync("reviews")).ShouldBeEmpty();
    }

    [Fact]
    public async Task Staggered_expiries_within_one_lease_window_cannot_empty_a_service()
    {
        // Four instances registered a second apart and never renewed: their deadlines pass one by one.
        foreach (var id in new[] { "a", "b", "c", "d" })
        {
            await RegisterAsync(id);
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        _time.Advance(TimeSpan.FromSeconds(6)); // t = 10: a's lease passes, 1 of 4
        (await _client.InstanceIdsAsync("reviews")).ShouldBe(["b", "c", "d"]);
        _time.Advance(TimeSpan.FromSeconds(1)); // t = 11: b's, 2 of 4 within the window: not more than half
        // etcd's decider records a's expiry in the guard's window apart from reads, and a read may come before its
        // mirror has it: wait for b to go (at once on SQLite) before the step that the window must hold.
        await Poll.UntilAsync(async () => (await _client.InstanceIdsAsync("reviews")) is ["c", "d"], because: "b's expiry, the second of four");
        _time.Advance(TimeSpan.FromSeconds(1)); // t = 12: c's would make 3 of 4: held
        (await _client.InstanceIdsAsync("reviews")).ShouldBe(["c", "d"]);
        _time.Advance(TimeSpan.FromSeconds(1));
        (await _client.InstanceIdsAsync("reviews")).ShouldBe(["c", "d"]);
    }

    [Fact]
    public async Task Lease_deadlines_survive_a_restart_measured_from_the_last_renewal()
    {
        await using var host = await RegistryHost.StartAsync(_time, s => s["MeshRegistry:MassExpiryThreshold"] = "1");
        (await host.Admin.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001", ttl: 10)).Dispose();
        (await host.Admin.RegisterAsync("reviews", "r2", "http://127.0.0.1:5002", ttl: 10)).Dispose();
        _time.Advance(TimeSpan.FromSeconds(6));
        (await host.Admin.RegisterAsync("reviews", "r2", "http://127.0.0.1:5002", ttl: 10)).Dispose();

        await host.RestartAsync();
        var client = host.Admin;
        _time.Advance(TimeSpan.FromSeconds(4) - Tick);
        (await client.InstanceIdsAsync("reviews")).ShouldBe(["r1", "r2"]);
        _time.Advance(Tick);
        (await client.InstanceIdsAsync("reviews")).ShouldBe(["r2"]);
        _time.Advance(TimeSpan.FromSeconds(6) - Tick);
        (await client.InstanceIdsAsync("reviews")).ShouldBe(["r2"]);
        _time.Advance(Tick);
        (await client.InstanceIdsAsync("reviews")).ShouldBeEmpty();
    }

    [Fact]
    public async Task A_renewal_acknowledged_while_the_sweep_expires_others_is_never_lost()
    {
        // The sweep removes expired instances in batches; renewals that land while it works on the first batches must
        // keep their instances, whichever batch they are in, because each was acknowledged with a new lease.
        await using var host = await RegistryHost.StartAsync(_time, s => s["MeshRegistry:MassExpiryThreshold"] = "1");
        var client = host.Admin;
        var ids = Enumerable.Range(0, 400).Select(i => $"i{i:D3}").ToArray();
        foreach (var chunk in ids.Chunk(50))
        {
            await Task.WhenAll(chunk.Select(id => client.RegisterIndexAsync("reviews", id, "http://127.0.0.1:5001", ttl: 10)));
        }

        _time.Advance(TimeSpan.FromSeconds(10));
        foreach (var chunk in ids.Reverse().Chunk(20))
        {
            await Task.WhenAll(chunk.Select(id => client.RegisterIndexAsync("reviews", id, "http://127.0.0.1:5001", ttl: 10)));
        }

        ids.Except(await client.InstanceIdsAsync("reviews")).ShouldBeEmpty();
    }

    /// <summary>Collects one counter of this test's registry only (its meter factory is the meter's scope).</summary>
    private MetricCollector<long> RegistryCounter(string instrument) =>
        new(_host.App.Services.GetRequiredService<IMeterFactory>(), "Mesh.Registry", instrument);

    private static Dictionary<string, double> Gauges(RegistryHost host)
    {
        var factory = host.App.Services.GetRequiredService<IMeterFactory>();
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Mesh.Registry" && instrument.Meter.Scope == factory)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<int>((i, v, _, _) => values[i.Name] = values.GetValueOrDefault(i.Name) + v);
        listener.Start();
        listener.RecordObservableInstruments();
        values.TryAdd("mesh.registry.expiry_guard.held_instances", 0);
        return values;
    }

    /// <summary>A clock whose timers never fire: only the reads' own sweep can expire anything.</summary>
    private sealed class TimersNeverFire(ManualTimeProvider inner) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

        public override long GetTimestamp() => inner.GetTimestamp();

        public override long TimestampFrequency => inner.TimestampFrequency;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new Never();

        private sealed class Never : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
