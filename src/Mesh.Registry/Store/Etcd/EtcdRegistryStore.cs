using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Etcdserverpb;
using Google.Protobuf;
using Mesh.Client.Registry;
using Mesh.Registry.Contracts;
using Mesh.Registry.Dashboard;
using Mesh.Registry.Instances;
using Mesh.Registry.Policies;
using Mesh.Registry.Watches;
using Microsoft.Extensions.Options;

namespace Mesh.Registry.Store.Etcd;

/// <summary>
/// The shared store: the registry's state in an etcd cluster, so any number of registry replicas serve the same API
/// and hold nothing of their own that matters. Every write is an etcd transaction, acknowledged once the cluster's
/// quorum committed it; every replica keeps a mirror of the state, fed by one etcd watch, for reads and long polls.
/// </summary>
/// <remarks>
/// The index is etcd's revision, the same on every replica, so a client's long poll resumes on another replica from
/// the index it had. A read without an index (or with one this mirror has not reached) first asks etcd for its
/// current revision and waits until the mirror has applied it, so it sees every write any replica acknowledged.
/// Instances are keys bound to etcd leases of 1.5 × (<c>ttlSeconds + MassExpiryMaxHold</c>), kept alive at most once
/// per half of that, so a lease outlives its instance's deadline plus the longest hold: while any replica runs, the
/// one that holds the <c>meta/decider</c> lock expires them at exactly <c>ttlSeconds</c> after their last renewal,
/// as the mass-expiry guard judges; when no replica runs, etcd removes them once the longest hold has passed.
/// A renewal rewrites only the instance's <c>leases/</c> key (group-committed, many per transaction), so no index
/// moves and no watch wakes.
/// </remarks>
internal sealed partial class EtcdRegistryStore : IRegistryStore
{
    private const int PageSize = 2000;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, EtcdServiceEntry> _services = new(StringComparer.Ordinal);

    // Per service, the ids of the new instances this replica is writing (under _gate): those its mirror does not show
    // yet count towards MaxInstancesPerService, so registrations racing through one replica never pass it.
    private readonly Dictionary<string, HashSet<string>> _creating = new(StringComparer.Ordinal);

    // Lease keys seen before their instance key (a page boundary on load): applied when the instance arrives.
    private readonly Dictionary<(string, string), (EtcdLeaseValue Value, long ModRevision)> _pendingLeases = [];
    private readonly RegistryOptions _options;
    private readonly EtcdStoreOptions _etcd;
    private readonly EtcdKeys _keys;
    private readonly EtcdConnection _connection;
    private readonly TimeProvider _time;
    private readonly ILogger<EtcdRegistryStore> _logger;
    private readonly Meter _meter;
    private readonly Counter<long> _expired;
    private readonly Counter<long> _guardActivations;
    private readonly CancellationTokenSource _closing = new();
    private readonly CancellationTokenSource _watchesStopping = new();
    private readonly Channel<PendingRenewal> _renewals = Channel.CreateUnbounded<PendingRenewal>();
    private readonly Task[] _renewalWriters;
    private readonly Task _watchLoop;
    private readonly Task _deciderLoop;
    private readonly string _replicaId;
    private readonly TrafficStatsStore _traffic;
    private TaskCompletionSource _anyChange = WatchSignal.New();
    private TaskCompletionSource _applied = WatchSignal.New();
    private long _revision;
    private long _index;
    private readonly WatchCounter _waiting = new();
    private bool _disposed;

    public EtcdRegistryStore(IOptions<RegistryOptions> options, TimeProvider time, ILogger<EtcdRegistryStore> logger, IMeterFactory meters,
        RegistryConsole console, TrafficStatsStore traffic)
    {
        _traffic = traffic;
        _traffic.UseMirror();
        _options = options.Value;
        _etcd = _options.Etcd;
        _keys = new EtcdKeys(_etcd.Prefix);
        _time = time;
        _logger = logger;
        _replicaId = $"{Environment.MachineName}/{Environment.ProcessId}/{Convert.ToHexString(RandomNumberGenerator.GetBytes(4))}";
        _connection = new EtcdConnection(_etcd);
        _sweepTimer = _time.CreateTimer(_ => OnSweepTimer(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        try
        {
            // The host builds its services synchronously; the store is ready (state loaded, admin hash known) before the first request.
            AdminTokenHash = LoadAdminTokenHashAsync(console.Out).GetAwaiter().GetResult();
            LoadAsync().GetAwaiter().GetResult();
        }
        catch
        {
            _sweepTimer.Dispose();
            _connection.Dispose();
            throw;
        }

        _meter = meters.Create(RegistryMeter.Name);
        _expired = _meter.CreateCounter<long>("mesh.registry.instances.expired", "{instance}", "Instances removed because their lease passed.");
        _guardActivations = _meter.CreateCounter<long>("mesh.registry.expiry_guard.activations", "{hold}",
            "Times the mass-expiry guard started holding a service's expired instances.");
        _meter.CreateObservableGauge("mesh.registry.expiry_guard.held_services", () => Observe(s => s.HeldSince is null ? 0 : 1).Sum(m => m.Value),
            "{service}", "Services whose expired instances the mass-expiry guard is holding.");
        _meter.CreateObservableGauge("mesh.registry.expiry_guard.held_instances", () => Observe(s => s.HeldCount).Where(m => m.Value > 0),
            "{instance}", "Expired instances the mass-expiry guard keeps listed, per service.");
        _meter.CreateObservableGauge("mesh.registry.instances", () => Observe(s => s.Instances.Count).Where(m => m.Value > 0),
            "{instance}", "Registered instances per service.");

        _keepAlive = new EtcdLeaseKeepAlive(_connection, _logger, _closing.Token);
        _watchLoop = Task.Run(WatchLoopAsync);
        _renewalWriters = [.. Enumerable.Range(0, RenewalWriters).Select(_ => Task.Run(WriteRenewalsAsync))];
        _deciderLoop = Task.Run(DeciderLoopAsync);
        _logger.LogInformation("Registry store etcd {Endpoints} under {Prefix}: revision {Revision}, {Services} services, {Instances} instances; replica {Replica}",
            string.Join(", ", _etcd.Endpoints), _keys.Prefix, _revision, _services.Count, _services.Values.Sum(s => s.Instances.Count), _replicaId);
    }

    public byte[] AdminTokenHash { get; }

    /// <summary>None: the store keeps no files, so the CA's folder must be configured (<c>MeshRegistry:CaPath</c>, the same for every replica).</summary>
    public string? LocalDirectory => null;

    public int WaitingWatches => _waiting.Count;

    /// <summary>
    /// A renewal of an unchanged registration rewrites its lease key in the next group commit; anything else (new,
    /// changed, or gone meanwhile) is a transaction of its own that takes a new revision. A new id is refused when the
    /// service already has <see cref="RegistryOptions.MaxInstancesPerService"/> instances (<see cref="IsFull"/>).
    /// </summary>
    public async Task<InstanceWrite> RegisterAsync(string service, string id, Registration registration)
    {
        var caughtUp = false;
        for (var attempt = 1; ; attempt++)
        {
            EtcdInstanceEntry? existing;
            long modRevision, lease, instancesIndex;
            bool gone, full, creating;
            var now = _time.GetUtcNow();
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                existing = _services.TryGetValue(service, out var s) ? s.Instances.GetValueOrDefault(id) : null;
                modRevision = existing?.ModRevision ?? 0;
                lease = existing?.Lease ?? 0;
                instancesIndex = s?.InstancesIndex ?? 0;

                // Its lease passed and reads leave it out, though the decider has not removed it yet: it comes back as
                // a new registration that moves the index, or a watch would see it go and come back at one index.
                gone = existing is not null && !EtcdServiceEntry.IsShown(existing, now, ShowsExpired(s!, now));
                full = (existing is null || gone) && IsFull(s, service, id, now);

                // A second registration of the same new id at once adds nothing: the first's counts for both.
                creating = (existing is null || gone) && !full && Creating(service).Add(id);
            }

            if (full)
            {
                if (caughtUp)
                {
                    return InstanceWrite.TooMany(instancesIndex);
                }

                // Refused only once the mirror has every acknowledged write: a place another replica freed counts.
                await CatchUpAsync().ConfigureAwait(false);
                caughtUp = true;
                continue;
            }

            var expires = now + TimeSpan.FromSeconds(registration.TtlSeconds);
            if (existing is not null && !gone && Same(existing.Value, registration))
            {
                var value = new EtcdLeaseValue(now, expires, registration.Traffic);
                var renewal = new PendingRenewal(_keys.Instance(service, id), modRevision, _keys.Lease(service, id), lease, Json(value));
                _renewals.Writer.TryWrite(renewal);
                if (await RenewedAsync(renewal, service, id).ConfigureAwait(false))
                {
                    KeepAliveIfDue(existing);
                    return new InstanceWrite(ToRecord(service, id, existing.Value, expires), false, instancesIndex);
                }
            }
            else if (await ChangeAsync(service, id, registration, existing is null ? 0 : modRevision, existing is null ? 0 : lease, now, expires,
                         creating).ConfigureAwait(false) is { } revision)
            {
                return new InstanceWrite(ToRecord(service, id, ToValue(registration), expires), existing is null || gone, revision);
            }

            // Another replica changed or removed the instance since this mirror saw it: catch up and decide again.
            if (attempt == 10)
            {
                throw new RegistryStoreUnavailableException($"the registration of {service}/{id} kept racing other writes to it in etcd");
            }

            await CatchUpAsync().ConfigureAwait(false);
            caughtUp = true;
        }
    }

    /// <summary>
    /// <see cref="TryChangeAsync"/>, with a new instance's id in <see cref="_creating"/> (when <paramref name="creating"/>)
    /// until it returns: by then the mirror shows it (the write was applied) or it was not written.
    /// </summary>
    private async Task<long?> ChangeAsync(string service, string id, Registration registration, long expectedRevision, long oldLease,
        DateTimeOffset now, DateTimeOffset expires, bool creating)
    {
        try
        {
            return await TryChangeAsync(service, id, registration, expectedRevision, oldLease, now, expires).ConfigureAwait(false);
        }
        finally
        {
            if (creating)
            {
                lock (_gate)
                {
                    var ids = _creating[service];
                    ids.Remove(id);
                    if (ids.Count == 0)
                    {
                        _creating.Remove(service);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Whether the service has <see cref="RegistryOptions.MaxInstancesPerService"/> instances that reads show (live, or
    /// held by the guard) as this replica's mirror has them, or that this replica is writing. Asked for new ids only,
    /// never for renewals. Registrations through several replicas at once each count without the others', so together
    /// they may pass the limit by as many as are in flight; checking in the transaction would need every registration
    /// to read the whole service from etcd. An <paramref name="id"/> this replica is writing already has its place.
    /// </summary>
    private bool IsFull(EtcdServiceEntry? s, string service, string id, DateTimeOffset now)
    {
        var limit = _options.MaxInstancesPerService;
        _creating.TryGetValue(service, out var creating);
        if (creating is not null && creating.Contains(id))
        {
            // Counted once as the write in flight; counting it again would refuse a retry of an id that is coming.
            return false;
        }

        var inFlight = creating?.Count ?? 0;
        if (s is null || s.Instances.Count + inFlight < limit)
        {
            return inFlight >= limit;
        }

        var showsExpired = ShowsExpired(s, now);
        var counted = 0;
        foreach (var i in s.Instances.Values)
        {
            if (EtcdServiceEntry.IsShown(i, now, showsExpired) && ++counted >= limit)
            {
                return true;
            }
        }

        if (creating is not null)
        {
            foreach (var writing in creating)
            {
                // One the mirror shows already (applied, its writer not yet back) was counted above.
                if ((!s.Instances.TryGetValue(writing, out var i) || !EtcdServiceEntry.IsShown(i, now, showsExpired)) && ++counted >= limit)
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>The ids of <paramref name="service"/>'s new instances this replica is writing; under <c>_gate</c>.</summary>
    private HashSet<string> Creating(string service)
    {
        if (!_creating.TryGetValue(service, out var ids))
        {
            _creating[service] = ids = new HashSet<string>(StringComparer.Ordinal);
        }

        return ids;
    }

    /// <summary>
    /// Whether the group commit wrote the renewal; like any etcd call it takes at most the request timeout. With etcd
    /// slow or down the queue grows faster than writers drain it, and a caller must not wait for the queue ahead of it:
    /// it is answered unavailable, and its renewal, not yet sent, is dropped rather than written late.
    /// </summary>
    private async Task<bool> RenewedAsync(PendingRenewal renewal, string service, string id)
    {
        try
        {
            return await renewal.Done.Task.WaitAsync(_connection.Timeout, TimeProvider.System).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            renewal.Done.TrySetCanceled();
            throw new RegistryStoreUnavailableException(
                $"etcd did not commit the renewal of {service}/{id} within {_connection.Timeout.TotalSeconds:0.#} s (is a quorum of its members up?)", ex);
        }
    }

    /// <summary>Writes a new or changed registration under a new etcd lease; null when the instance was not as this mirror saw it.</summary>
    private async Task<long?> TryChangeAsync(string service, string id, Registration registration, long expectedRevision, long oldLease,
        DateTimeOffset now, DateTimeOffset expires)
    {
        var leaseSeconds = (long)Math.Ceiling(1.5 * LongestLife(registration.TtlSeconds).TotalSeconds);
        var grant = await _connection.CallAsync("a lease grant", o => _connection.Raw.LeaseClient.LeaseGrantAsync(new LeaseGrantRequest { TTL = leaseSeconds }, o))
            .ConfigureAwait(false);
        var key = _keys.Instance(service, id);
        var txn = new TxnRequest();
        txn.Compare.Add(expectedRevision == 0 ? Absent(key) : ModRevisionIs(key, expectedRevision));
        txn.Success.Add(Put(key, Json(ToValue(registration)), grant.ID));
        txn.Success.Add(Put(_keys.Lease(service, id), Json(new EtcdLeaseValue(now, expires, registration.Traffic)), grant.ID));
        txn.Success.Add(Put(_keys.InstancesIndex(service), string.Empty));
        var response = await CommitAsync($"the registration of {service}/{id}", txn).ConfigureAwait(false);
        if (!response.Succeeded)
        {
            RevokeLater(grant.ID);
            return null;
        }

        if (oldLease != 0)
        {
            // Both keys moved to the new lease; the old one now holds nothing.
            RevokeLater(oldLease);
        }

        await WaitAppliedAsync(response.Header.Revision, throwOnTimeout: false).ConfigureAwait(false);
        return response.Header.Revision;
    }

    public async Task<bool> DeregisterAsync(string service, string id)
    {
        for (var attempt = 1; ; attempt++)
        {
            await CatchUpAsync().ConfigureAwait(false);
            EtcdInstanceEntry? existing;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                var now = _time.GetUtcNow();
                existing = _services.TryGetValue(service, out var s) && s.Instances.TryGetValue(id, out var i) &&
                           EtcdServiceEntry.IsShown(i, now, ShowsExpired(s, now))
                    ? i
                    : null;
            }

            if (existing is null)
            {
                return false;
            }

            var key = _keys.Instance(service, id);
            var txn = new TxnRequest();
            txn.Compare.Add(ModRevisionIs(key, existing.ModRevision));
            txn.Success.Add(Delete(key));
            txn.Success.Add(Delete(_keys.Lease(service, id)));
            txn.Success.Add(Put(_keys.InstancesIndex(service), string.Empty));
            var response = await CommitAsync($"the deregistration of {service}/{id}", txn).ConfigureAwait(false);
            if (response.Succeeded)
            {
                RevokeLater(existing.Lease);
                await WaitAppliedAsync(response.Header.Revision, throwOnTimeout: false).ConfigureAwait(false);
                return true;
            }

            if (attempt == 10)
            {
                throw new RegistryStoreUnavailableException($"the deregistration of {service}/{id} kept racing other writes to it in etcd");
            }
        }
    }

    /// <summary>Reads the current version linearizably, decides as every store does, and writes only if that version is still current.</summary>
    public async Task<PolicyWrite> WritePolicyAsync(string service, PolicyChange change)
    {
        var key = _keys.Policy(service);
        while (true)
        {
            var read = await RangeAsync($"the policy of {service}", new RangeRequest { Key = EtcdKeys.Bytes(key) }).ConfigureAwait(false);
            var kv = read.Kvs.Count > 0 ? read.Kvs[0] : null;
            var current = kv is null ? null : Parse(kv.Value, EtcdJsonContext.Default.EtcdPolicyValue);
            var currentVersion = current?.Version ?? 0;
            var currentResponse = PolicyResponseOf(service, current, kv?.ModRevision ?? 0);
            if (change.ExpectedVersion is { } expected && expected != currentVersion)
            {
                return new PolicyWrite(PolicyOutcome.VersionMismatch, currentResponse);
            }

            if (change.Document is null && current?.Document is null)
            {
                return new PolicyWrite(PolicyOutcome.NotFound, currentResponse);
            }

            if (current is not null && current.Document == change.Document)
            {
                return new PolicyWrite(PolicyOutcome.Unchanged, currentResponse);
            }

            var next = new EtcdPolicyValue(currentVersion + 1, change.Document, _time.GetUtcNow(), change.RollbackOf);
            var txn = new TxnRequest();
            txn.Compare.Add(kv is null ? Absent(key) : ModRevisionIs(key, kv.ModRevision));
            var json = Json(next);
            txn.Success.Add(Put(key, json));
            txn.Success.Add(Put(_keys.PolicyVersion(service, next.Version), json));
            var response = await CommitAsync($"policy version {next.Version} of {service}", txn).ConfigureAwait(false);
            if (response.Succeeded)
            {
                await WaitAppliedAsync(response.Header.Revision, throwOnTimeout: false).ConfigureAwait(false);
                return new PolicyWrite(PolicyOutcome.Changed, PolicyResponseOf(service, next, response.Header.Revision));
            }

            // Another write came between the read and this one: read again, so an If-Match writer is refused with the version that won.
        }
    }

    public async Task<StoredPolicyVersion?> GetPolicyVersionAsync(string service, long version)
    {
        var read = await RangeAsync($"version {version} of {service}'s policy", new RangeRequest { Key = EtcdKeys.Bytes(_keys.PolicyVersion(service, version)) })
            .ConfigureAwait(false);
        return read.Kvs.Count == 0 ? null : ToStored(Parse(read.Kvs[0].Value, EtcdJsonContext.Default.EtcdPolicyValue));
    }

    public async Task<IReadOnlyList<StoredPolicyVersion>> GetPolicyHistoryAsync(string service, int limit)
    {
        var folder = _keys.PolicyVersions(service);
        var read = await RangeAsync($"the policy history of {service}", new RangeRequest
        {
            Key = EtcdKeys.Bytes(folder),
            RangeEnd = EtcdKeys.RangeEnd(folder),
            SortTarget = RangeRequest.Types.SortTarget.Key,
            SortOrder = RangeRequest.Types.SortOrder.Descend,
            Limit = limit,
        }).ConfigureAwait(false);
        var history = new List<StoredPolicyVersion>(read.Kvs.Count);
        foreach (var kv in read.Kvs)
        {
            history.Add(ToStored(Parse(kv.Value, EtcdJsonContext.Default.EtcdPolicyValue)));
        }

        return history;
    }

    public async Task<DashboardResponse> ReadDashboardAsync()
    {
        await CatchUpAsync().ConfigureAwait(false);
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var answer = new DashboardResponse { Now = now, Index = _index };
            foreach (var s in _services.Values.OrderBy(s => s.Name, StringComparer.Ordinal))
            {
                var showsExpired = ShowsExpired(s, now);
                if (!s.IsListed(now, showsExpired))
                {
                    continue;
                }

                var service = new DashboardService { Name = s.Name, PolicyVersion = s.Policy?.Version ?? 0, PolicyUpdatedAt = s.Policy?.CreatedAt };
                foreach (var i in s.Instances.Values.Where(i => EtcdServiceEntry.IsShown(i, now, showsExpired)).OrderBy(i => i.Id, StringComparer.Ordinal))
                {
                    service.Instances.Add(DashboardInstance.Of(i.Id, i.Value.Address, i.Value.Version, i.Value.Zone, i.Value.TtlSeconds, i.ExpiresAt,
                        i.RenewedAt, now));
                }

                answer.Services.Add(service);
            }

            return answer;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _renewals.Writer.TryComplete();
        ReleaseDecider();
        _closing.Cancel();
        _watchesStopping.Cancel();
        _sweepTimer.Dispose();
        _meter.Dispose();
        try
        {
            Task.WaitAll([_watchLoop, _deciderLoop, .. _renewalWriters], TimeSpan.FromSeconds(10));
        }
        catch (AggregateException)
        {
            // The loops end by cancellation; their faults were logged where they happened.
        }

        _keepAlive.Dispose();
        _connection.Dispose();
    }

    private async Task<byte[]> LoadAdminTokenHashAsync(TextWriter console)
    {
        if (!string.IsNullOrEmpty(_options.AdminToken))
        {
            return RegistryAuth.Hash(_options.AdminToken);
        }

        var key = _keys.AdminTokenHash;
        var token = "mesh-admin-" + Base64Url(RandomNumberGenerator.GetBytes(32));
        var hash = RegistryAuth.Hash(token);
        var txn = new TxnRequest();
        txn.Compare.Add(Absent(key));
        txn.Success.Add(Put(key, Convert.ToHexString(hash)));
        txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = EtcdKeys.Bytes(key) } });
        var response = await CommitAsync("the admin token's hash", txn).ConfigureAwait(false);
        if (!response.Succeeded)
        {
            _logger.LogInformation("Using the admin token whose hash is kept in etcd (MeshRegistry:AdminToken is not set)");
            return Convert.FromHexString(response.Responses[0].ResponseRange.Kvs[0].Value.ToStringUtf8());
        }

        var text = new StringBuilder()
            .AppendLine("MeshRegistry: no MeshRegistry:AdminToken is configured, so one was generated. It is shown only this once;")
            .AppendLine("MeshRegistry: the store keeps only its SHA-256 hash. Keep it somewhere safe.")
            .Append("MeshRegistry: admin token: ").AppendLine(token)
            .ToString();
        console.Write(text);
        console.Flush();
        return hash;
    }

    private InstancesResponse Instances(EtcdServiceEntry? s, DateTimeOffset now)
    {
        var answer = new InstancesResponse { Index = s?.InstancesIndex ?? 0, Instances = [] };
        if (s is not null)
        {
            var showsExpired = ShowsExpired(s, now);
            foreach (var i in s.Instances.Values.Where(i => EtcdServiceEntry.IsShown(i, now, showsExpired)).OrderBy(i => i.Id, StringComparer.Ordinal))
            {
                answer.Instances.Add(ToRecord(i.Service, i.Id, i.Value, i.ExpiresAt));
            }
        }

        return answer;
    }

    private static PolicyResponse Policy(string service, EtcdServiceEntry? s) => new()
    {
        Service = service,
        Version = s?.Policy?.Version ?? 0,
        Index = s?.PolicyIndex ?? 0,
        Document = PolicyJson.Parse(s?.Policy?.Document),
        UpdatedAt = s?.Policy?.CreatedAt,
    };

    private static PolicyResponse PolicyResponseOf(string service, EtcdPolicyValue? value, long index) => new()
    {
        Service = service,
        Version = value?.Version ?? 0,
        Index = value is null ? 0 : index,
        Document = PolicyJson.Parse(value?.Document),
        UpdatedAt = value?.CreatedAt,
    };

    private ServicesResponse Services(DateTimeOffset now)
    {
        var answer = new ServicesResponse { Index = _index };
        foreach (var s in _services.Values.OrderBy(s => s.Name, StringComparer.Ordinal))
        {
            var showsExpired = ShowsExpired(s, now);
            if (s.IsListed(now, showsExpired))
            {
                answer.Services.Add(new ServiceSummary
                {
                    Name = s.Name,
                    Instances = s.Instances.Values.Count(i => EtcdServiceEntry.IsShown(i, now, showsExpired)),
                    PolicyVersion = s.Policy?.Version ?? 0,
                    HeldInstances = showsExpired ? s.Instances.Values.Count(i => i.ExpiresAt <= now) : 0,
                });
            }
        }

        return answer;
    }

    /// <summary>
    /// Whether reads show the service's expired instances: the mass-expiry guard holds them. Every replica applies the
    /// guard's rule to what its mirror has, so a read right after a mass of leases passed shows the hold at once, not
    /// only when the deciding replica's verdict reaches it.
    /// </summary>
    private bool ShowsExpired(EtcdServiceEntry s, DateTimeOffset now)
    {
        var expired = 0;
        var window = TimeSpan.Zero;
        foreach (var i in s.Instances.Values)
        {
            if (i.ExpiresAt <= now)
            {
                expired++;
            }

            window = TimeSpan.FromSeconds(Math.Max(window.TotalSeconds, i.Value.TtlSeconds));
        }

        var recent = 0;
        foreach (var at in s.RecentExpirations)
        {
            if (at > now - window)
            {
                recent++;
            }
        }

        return MassExpiryGuard.Judge(_options, expired, s.Instances.Count, recent, s.HeldSince, now) == MassExpiryVerdict.Hold;
    }

    private List<Measurement<int>> Observe(Func<EtcdServiceEntry, int> value)
    {
        lock (_gate)
        {
            return [.. _services.Values.Select(s => new Measurement<int>(value(s), new KeyValuePair<string, object?>("service", s.Name)))];
        }
    }

    private async Task<RangeResponse> RangeAsync(string what, RangeRequest request) =>
        await _connection.CallAsync($"a read of {what}", o => _connection.Raw.KVClient.RangeAsync(request, o)).ConfigureAwait(false);

    /// <summary>
    /// Sends one transaction. Its success branch also writes <c>meta/last-write</c>, so that key's revision is always
    /// that of the registry's latest write under the prefix, which a read waits for its mirror to reach (<see cref="CatchUpAsync"/>).
    /// </summary>
    private async Task<TxnResponse> CommitAsync(string what, TxnRequest txn)
    {
        txn.Success.Add(Put(_keys.LastWrite, string.Empty));
        return await _connection.CallAsync($"the write of {what}", o => _connection.Raw.KVClient.TxnAsync(txn, o)).ConfigureAwait(false);
    }

    private void RevokeLater(long lease) => _ = RevokeAsync(lease);

    private async Task RevokeAsync(long lease)
    {
        try
        {
            await _connection.CallAsync("a lease revocation", o => _connection.Raw.LeaseClient.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease }, o))
                .ConfigureAwait(false);
        }
#pragma warning disable CA1031 // a lease left behind holds no key and ends at its TTL; nothing waits for this
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _logger.LogDebug(ex, "Revoking etcd lease {Lease} failed; it ends at its TTL", lease);
        }
    }

    private static InstanceRecord ToRecord(string service, string id, EtcdInstanceValue v, DateTimeOffset expiresAt) => new()
    {
        Id = id,
        Service = service,
        Address = v.Address,
        Version = v.Version,
        Zone = v.Zone,
        Labels = new Dictionary<string, string>(v.Labels, StringComparer.Ordinal),
        TtlSeconds = v.TtlSeconds,
        ExpiresAt = expiresAt,
    };

    private static EtcdInstanceValue ToValue(Registration r) =>
        new(r.Address, r.Version, r.Zone, new Dictionary<string, string>(r.Labels, StringComparer.Ordinal), r.TtlSeconds);

    private static StoredPolicyVersion ToStored(EtcdPolicyValue v) => new(v.Version, v.Document, v.CreatedAt, v.RollbackOf);

    private static bool Same(EtcdInstanceValue e, Registration r) =>
        e.Address == r.Address && e.Version == r.Version && e.Zone == r.Zone && e.TtlSeconds == r.TtlSeconds &&
        e.Labels.Count == r.Labels.Count && e.Labels.All(kv => r.Labels.TryGetValue(kv.Key, out var v) && v == kv.Value);

    private static string Json<T>(T value) => JsonSerializer.Serialize(value, typeof(T), EtcdJsonContext.Default);

    private static T Parse<T>(ByteString bytes, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        JsonSerializer.Deserialize(bytes.Span, type) ?? throw new InvalidDataException($"an empty {typeof(T).Name} in etcd");

    private static Compare Absent(string key) => new()
    {
        Key = EtcdKeys.Bytes(key),
        Target = Compare.Types.CompareTarget.Create,
        Result = Compare.Types.CompareResult.Equal,
        CreateRevision = 0,
    };

    private static Compare ModRevisionIs(string key, long revision) => new()
    {
        Key = EtcdKeys.Bytes(key),
        Target = Compare.Types.CompareTarget.Mod,
        Result = Compare.Types.CompareResult.Equal,
        ModRevision = revision,
    };

    private static RequestOp Put(string key, string value, long lease = 0) =>
        new() { RequestPut = new PutRequest { Key = EtcdKeys.Bytes(key), Value = ByteString.CopyFromUtf8(value), Lease = lease } };

    private static RequestOp Delete(string key) => new() { RequestDeleteRange = new DeleteRangeRequest { Key = EtcdKeys.Bytes(key) } };

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
