using Mesh.Client.Registry;
using Mesh.Registry.Contracts;
using Mesh.Registry.Watches;

namespace Mesh.Registry.Store;

/// <summary>
/// Where the registry's state lives: instances with their leases, versioned policies, the index that orders every
/// change, and the watches on them. The endpoints speak to this and nothing else about the state, so a store can be
/// swapped without them knowing (see <c>Store/README.md</c> for what every implementation must guarantee).
/// </summary>
/// <remarks>
/// Every write completes only once it is durable in the store, and every read and watch sees every write that
/// completed before it started. Writes take no cancellation token: a write that was sent may already be committed, so
/// a store finishes it (or fails it) rather than leave the caller unsure.
/// </remarks>
internal interface IRegistryStore : IDisposable
{
    /// <summary>The SHA-256 of the admin token: configured, or generated on the first start and kept in the store.</summary>
    byte[] AdminTokenHash { get; }

    /// <summary>The folder of the store's own files, where the CA's folder goes when <c>CaPath</c> is not set; null when the store keeps no files.</summary>
    string? LocalDirectory { get; }

    /// <summary>Watches parked waiting for a change (for tests and diagnostics).</summary>
    int WaitingWatches { get; }

    /// <summary>
    /// Registers a new instance, changes one, or renews its lease; completes once that is durable. A new or changed
    /// registration takes a new index; a renewal of the same registration moves only the lease and keeps the index.
    /// </summary>
    Task<InstanceWrite> RegisterAsync(string service, string id, Registration registration);

    /// <summary>Removes an instance (a new index); false when the service has no instance by that id.</summary>
    Task<bool> DeregisterAsync(string service, string id);

    // Every watch takes its caller's place (WatchCaller.Park) only where it parks, and gives it back when it ends; a
    // caller without a place left gets TooManyWatchesException there, and a watch that answers at once never does.

    /// <summary>The catalog, watched on the global index: it answers after any change anywhere.</summary>
    Task<ServicesResponse> WatchServicesAsync(long? index, TimeSpan wait, WatchCaller caller, CancellationToken cancellationToken);

    /// <summary>A service's live instances, watched on the index of the last change to them.</summary>
    Task<InstancesResponse> WatchInstancesAsync(string service, long? index, TimeSpan wait, WatchCaller caller, CancellationToken cancellationToken);

    /// <summary>A service's current policy, watched on the index of its last version.</summary>
    Task<PolicyResponse> WatchPolicyAsync(string service, long? index, TimeSpan wait, WatchCaller caller, CancellationToken cancellationToken);

    /// <summary>
    /// The full current state (instances and policy, each with its own index, as <see cref="WatchInstancesAsync"/> and
    /// <see cref="WatchPolicyAsync"/> read them) of each of <paramref name="services"/> that changed after
    /// <paramref name="index"/>, watched as one long poll.
    /// </summary>
    /// <param name="services">Distinct service names as the registry keeps them (lower case); at least one.</param>
    /// <param name="index">The <see cref="ServicesWatchResponse.Index"/> the caller last had; null for everything at once.</param>
    /// <param name="wait">How long to wait for a change before answering that nothing changed.</param>
    /// <param name="caller">Whose watch it is: it takes the caller's place only if it parks (see <see cref="WatchCaller"/>).</param>
    /// <param name="cancellationToken">The request was aborted: answer at once.</param>
    /// <remarks>
    /// <para>
    /// <see cref="ServicesWatchResponse.Index"/> is the global index, read atomically with the states it carries: every
    /// change to a named service up to it is in this answer (or was in an earlier one), every later change has a greater
    /// index. Without <paramref name="index"/>, or with one greater than the global index (the caller saw another
    /// store), it answers at once with every named service (an unknown one: no instances, no policy, indexes 0).
    /// </para>
    /// <para>
    /// Otherwise it answers with exactly the named services whose instances index or policy index is greater than
    /// <paramref name="index"/>, at once when there is one, else as soon as one changes; a change to a service not named
    /// does not answer it. When <paramref name="wait"/> passes first, the request is aborted, or <see cref="StopWatches"/>
    /// is called, it answers the same way at that moment: usually no services, with the global index. It never misses a
    /// change after <paramref name="index"/> and never creates an entry for a name it does not know.
    /// </para>
    /// </remarks>
    Task<ServicesWatchResponse> WatchServiceStatesAsync(IReadOnlyCollection<string> services, long? index, TimeSpan wait,
        WatchCaller caller, CancellationToken cancellationToken);

    /// <summary>
    /// Writes the service's next policy version, atomically with the check of <paramref name="change"/>'s expected
    /// version: of two writers that expect the same version, exactly one succeeds.
    /// </summary>
    Task<PolicyWrite> WritePolicyAsync(string service, PolicyChange change);

    /// <summary>One version of a service's policy; null when there is none by that number.</summary>
    Task<StoredPolicyVersion?> GetPolicyVersionAsync(string service, long version);

    /// <summary>A service's policy versions, newest first, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<StoredPolicyVersion>> GetPolicyHistoryAsync(string service, int limit);

    /// <summary>
    /// Whether this registry drives rollouts now: always with the embedded store; with etcd only the replica that holds
    /// the <c>meta/decider</c> key, so one replica at a time moves a rollout on.
    /// </summary>
    bool DrivesRollouts { get; }

    /// <summary>A service's rollout; null when it never had one.</summary>
    Task<StoredRollout?> GetRolloutAsync(string service);

    /// <summary>Every service's rollout, whatever its state.</summary>
    Task<IReadOnlyList<StoredRollout>> ListRolloutsAsync();

    /// <summary>
    /// Writes a service's rollout if its revision is still <paramref name="expectedRevision"/> (0: the service has
    /// none yet); the rollout as written, or null when another write came first. A write <paramref name="asDriver"/>
    /// (the engine moving a rollout on) is made only while this registry still drives rollouts, as the store sees it at
    /// the moment of the write: with etcd, while its decider key is still this replica's.
    /// </summary>
    Task<StoredRollout?> WriteRolloutAsync(string service, string document, long expectedRevision, bool asDriver);

    /// <summary>Every listed service with its instances and policy version, as the dashboard shows them (without traffic).</summary>
    Task<DashboardResponse> ReadDashboardAsync();

    /// <summary>The join tokens made through the API (hashes only; the tokens themselves are never kept), read at start.</summary>
    IReadOnlyList<JoinToken> LoadJoinTokens();

    /// <summary>
    /// A join token as a store shared with other replicas now holds it (made, or a use counted), this replica's own
    /// writes included, so a token made through any replica authenticates at every one. A store no other process writes
    /// never raises it. Raised on the store's thread: handlers must not block.
    /// </summary>
    event Action<JoinToken>? JoinTokenStored;

    /// <summary>The id of a join token a shared store dropped (revoked, or long expired), so a revocation holds at every replica. As <see cref="JoinTokenStored"/>.</summary>
    event Action<string>? JoinTokenDropped;

    /// <summary>Keeps a new join token and, in the same write, drops <paramref name="expired"/> (tokens long past their expiry).</summary>
    Task AddJoinTokenAsync(JoinToken token, IReadOnlyCollection<string> expired);

    /// <summary>Drops a join token (revoked); false when there is none by that id.</summary>
    Task<bool> DeleteJoinTokenAsync(string id);

    /// <summary>
    /// Counts one use of a join token if it has one left, atomically: of two signings that race for its last use, one
    /// gets it. The uses counted after it; null when the token is gone or spent.
    /// </summary>
    Task<int?> TryUseJoinTokenAsync(string id);

    /// <summary>Gives back a use (the CA refused the request it was taken for); the uses counted after it, null when the token is gone.</summary>
    Task<int?> GiveBackJoinTokenUseAsync(string id);

    /// <summary>Wakes every parked watch so the host can stop without waiting out long polls.</summary>
    void StopWatches();
}
