using Mesh.Client.Registry;
using Mesh.Registry.Contracts;
using Mesh.Registry.Store;
using Mesh.Registry.Watches;

namespace Mesh.Registry.Tests;

/// <summary>
/// The registry's own store, with one hook: <see cref="BeforeNextPolicyWrite"/> runs (once) just before the next policy
/// write reaches the store, so a test can land another writer's change in the gap between a read and a write.
/// </summary>
internal sealed class PolicyWriteRacingStore(IRegistryStore inner) : IRegistryStore
{
    public Func<IRegistryStore, Task>? BeforeNextPolicyWrite { get; set; }

    public byte[] AdminTokenHash => inner.AdminTokenHash;

    public string? LocalDirectory => inner.LocalDirectory;

    public int WaitingWatches => inner.WaitingWatches;

    public bool DrivesRollouts => inner.DrivesRollouts;

    public async Task<PolicyWrite> WritePolicyAsync(string service, PolicyChange change)
    {
        if (BeforeNextPolicyWrite is { } racer)
        {
            BeforeNextPolicyWrite = null;
            await racer(inner);
        }

        return await inner.WritePolicyAsync(service, change);
    }

    public Task<InstanceWrite> RegisterAsync(string service, string id, Registration registration) => inner.RegisterAsync(service, id, registration);

    public Task<bool> DeregisterAsync(string service, string id) => inner.DeregisterAsync(service, id);

    public Task<ServicesResponse> WatchServicesAsync(long? index, TimeSpan wait, WatchCaller caller, CancellationToken cancellationToken) =>
        inner.WatchServicesAsync(index, wait, caller, cancellationToken);

    public Task<InstancesResponse> WatchInstancesAsync(string service, long? index, TimeSpan wait, WatchCaller caller, CancellationToken cancellationToken) =>
        inner.WatchInstancesAsync(service, index, wait, caller, cancellationToken);

    public Task<PolicyResponse> WatchPolicyAsync(string service, long? index, TimeSpan wait, WatchCaller caller, CancellationToken cancellationToken) =>
        inner.WatchPolicyAsync(service, index, wait, caller, cancellationToken);

    public Task<ServicesWatchResponse> WatchServiceStatesAsync(IReadOnlyCollection<string> services, long? index, TimeSpan wait,
        WatchCaller caller, CancellationToken cancellationToken) => inner.WatchServiceStatesAsync(services, index, wait, caller, cancellationToken);

    public Task<StoredPolicyVersion?> GetPolicyVersionAsync(string service, long version) => inner.GetPolicyVersionAsync(service, version);

    public Task<IReadOnlyList<StoredPolicyVersion>> GetPolicyHistoryAsync(string service, int limit) => inner.GetPolicyHistoryAsync(service, limit);

    public Task<StoredRollout?> GetRolloutAsync(string service) => inner.GetRolloutAsync(service);

    public Task<IReadOnlyList<StoredRollout>> ListRolloutsAsync() => inner.ListRolloutsAsync();

    public Task<StoredRollout?> WriteRolloutAsync(string service, string document, long expectedRevision, bool asDriver) =>
        inner.WriteRolloutAsync(service, document, expectedRevision, asDriver);

    public Task<DashboardResponse> ReadDashboardAsync() => inner.ReadDashboardAsync();

    public IReadOnlyList<JoinToken> LoadJoinTokens() => inner.LoadJoinTokens();

    public event Action<JoinToken>? JoinTokenStored
    {
        add => inner.JoinTokenStored += value;
        remove => inner.JoinTokenStored -= value;
    }

    public event Action<string>? JoinTokenDropped
    {
        add => inner.JoinTokenDropped += value;
        remove => inner.JoinTokenDropped -= value;
    }

    public Task AddJoinTokenAsync(JoinToken token, IReadOnlyCollection<string> expired) => inner.AddJoinTokenAsync(token, expired);

    public Task<bool> DeleteJoinTokenAsync(string id) => inner.DeleteJoinTokenAsync(id);

    public Task<int?> TryUseJoinTokenAsync(string id) => inner.TryUseJoinTokenAsync(id);

    public Task<int?> GiveBackJoinTokenUseAsync(string id) => inner.GiveBackJoinTokenUseAsync(id);

    public void StopWatches() => inner.StopWatches();

    public void Dispose() => inner.Dispose();
}
