using Mesh.Registry.Store;
using Mesh.Testing;
using Microsoft.Data.Sqlite;

namespace Mesh.Registry.Tests;

/// <summary>
/// Renewals are group-committed by the SQLite store's lease writer; these look at its file behind its back, so they run
/// on the SQLite store whichever store the other registry tests run on.
/// </summary>
public sealed class GroupCommitTests : IAsyncLifetime
{
    private static readonly Registration Reviews = new("http://127.0.0.1:5001", "v1", null, [], 3600);
    private readonly ManualTimeProvider _time = new();
    private RegistryHost _host = null!;

    public async Task InitializeAsync() => _host = await RegistryHost.StartAsync(_time, s => s["MeshRegistry:Store"] = "Sqlite");

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_renewal_completes_only_once_its_lease_is_committed()
    {
        await _host.Store.RegisterAsync("reviews", "r1", Reviews);
        for (var i = 0; i < 20; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            var (record, created, _) = await _host.Store.RegisterAsync("reviews", "r1", Reviews);
            created.ShouldBeFalse();

            // Another connection sees only committed data: the acknowledged lease must be there already.
            StoredExpiry("reviews", "r1").ShouldBe(record!.ExpiresAt.UtcTicks);
        }
    }

    [Fact]
    public async Task Many_renewals_at_once_are_all_committed_before_they_complete()
    {
        for (var i = 0; i < 50; i++)
        {
            await _host.Store.RegisterAsync("reviews", $"r{i}", Reviews);
        }

        _time.Advance(TimeSpan.FromSeconds(7));
        var renewals = await Task.WhenAll(Enumerable.Range(0, 500).Select(n => Task.Run(() => _host.Store.RegisterAsync("reviews", $"r{n % 50}", Reviews))));
        foreach (var (record, created, _) in renewals)
        {
            created.ShouldBeFalse();
            StoredExpiry("reviews", record!.Id).ShouldBe(record.ExpiresAt.UtcTicks);
        }
    }

    [Fact]
    public async Task A_renewal_queued_before_a_deregistration_does_not_bring_the_instance_back()
    {
        for (var i = 0; i < 20; i++)
        {
            await _host.Store.RegisterAsync("reviews", $"r{i}", Reviews);

            // The renewal waits for the lease writer; the deregistration is committed at once, so it usually lands
            // before the writer takes the renewal's batch. The writer must then skip the instance, not write it again.
            var renewal = _host.Store.RegisterAsync("reviews", $"r{i}", Reviews);
            (await _host.Store.DeregisterAsync("reviews", $"r{i}")).ShouldBeTrue();
            await renewal;
        }

        StoredIds("reviews").ShouldBeEmpty();
        await _host.RestartAsync();
        (await _host.Admin.InstanceIdsAsync("reviews")).ShouldBeEmpty();
    }

    private long? StoredExpiry(string service, string id)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT expires_at FROM instances WHERE service = $service AND id = $id";
        command.Parameters.AddWithValue("$service", service);
        command.Parameters.AddWithValue("$id", id);
        return command.ExecuteScalar() as long?;
    }

    private List<string> StoredIds(string service)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id FROM instances WHERE service = $service";
        command.Parameters.AddWithValue("$service", service);
        using var reader = command.ExecuteReader();
        var ids = new List<string>();
        while (reader.Read())
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = _host.DataPath,
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
        }.ToString());
        connection.Open();
        return connection;
    }
}
