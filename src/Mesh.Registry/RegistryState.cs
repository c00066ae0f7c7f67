using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mesh.Client.Registry;
using Mesh.Registry.Contracts;
using Microsoft.Extensions.Options;

namespace Mesh.Registry;

/// <summary>
/// The registry's state: every service's instances with their leases and its versioned policy, kept in memory for reads
/// and watches and written through to <see cref="RegistryStore"/> before a change is acknowledged.
/// </summary>
/// <remarks>
/// One global index, persisted, grows by one with every change (a new, changed or removed registration, an expiry, a
/// policy version) and stamps it. Each service remembers the index of the last change to its instances and, separately,
/// to its policy; a watch on either answers when that index passes the caller's. Renewals that change nothing but the
/// lease do not move the index (watchers are not woken every few seconds), but they are written before the answer, so
/// a restart keeps every lease deadline measured from the last acknowledged renewal.
/// Leases end exactly <c>ttlSeconds</c> after the last renewal: at that instant an instance is no longer returned. A
/// sweep timer is armed for the earliest deadline, and every read sweeps the service it reads first, so a late timer
/// never shows an expired instance. The mass-expiry guard holds expired instances instead of dropping them when more
/// than <see cref="RegistryOptions.MassExpiryThreshold"/> of a service would have expired within one lease window.
/// </remarks>
internal sealed class RegistryState : IDisposable
{
    public const string MeterName = "Mesh.Registry";
    private const string AdminHashKey = "admin_token_sha256";

    private readonly Lock _gate = new();
    private readonly Dictionary<string, ServiceEntry> _services = new(StringComparer.Ordinal);
    private readonly RegistryStore _store;
    private readonly RegistryOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<RegistryState> _logger;
    private readonly ITimer _sweepTimer;
    private readonly Meter _meter;
    private readonly Counter<long> _expired;
    private readonly Counter<long> _guardActivations;
    private readonly CancellationTokenSource _stopping = new();
    private TaskCompletionSource _anyChange = NewSignal();

    // Group commit of renewals (see RegisterAsync). Under _gate: the renewed instances waiting for the lease writer, and
    // the signal their batch completes once it is committed. _leaseWork is set when the batch goes from empty to not
    // empty, and reset by the writer when it takes the batch; it does not spin (two cores are shared with Kestrel).
    // _leaseSnapshot is the writer's own copy of a batch's leases, written while _gate is free.
    private readonly ManualResetEventSlim _leaseWork = new(false, spinCount: 0);
    private readonly Thread _leaseWriter;
    private readonly HashSet<InstanceEntry> _pendingLeases = [];
    private readonly List<InstanceEntry> _leaseSnapshot = [];
    private TaskCompletionSource _leasesWritten = NewSignal();
    private DateTimeOffset? _armedFor;
    private long _index;
    private int _waiting;
    private bool _disposed;

    public RegistryState(IOptions<RegistryOptions> options, IHostEnvironment environment, TimeProvider time, ILogger<RegistryState> logger,
        IMeterFactory meters, RegistryConsole console)
    {
        _options = options.Value;
        _time = time;
        _logger = logger;
        var path = Path.IsPathRooted(_options.DataPath) ? _options.DataPath : Path.Combine(environment.ContentRootPath, _options.DataPath);
        _store = new RegistryStore(path);
        try
        {
            AdminTokenHash = LoadAdminTokenHash(console.Out);
            Load();
        }
        catch
        {
            _store.Dispose();
            throw;
        }

        _meter = meters.Create(MeterName);
        _expired = _meter.CreateCounter<long>("mesh.registry.instances.expired", "{instance}", "Instances removed because their lease passed.");
        _guardActivations = _meter.CreateCounter<long>("mesh.registry.expiry_guard.activations", "{hold}",
            "Times the mass-expiry guard started holding a service's expired instances.");
        _meter.CreateObservableGauge("mesh.registry.expiry_guard.held_services", () => Observe(s => s.HeldSince is null ? 0 : 1).Sum(m => m.Value),
            "{service}", "Services whose expired instances the mass-expiry guard is holding.");
        _meter.CreateObservableGauge("mesh.registry.expiry_guard.held_instances", () => Observe(s => s.HeldCount).Where(m => m.Value > 0),
            "{instance}", "Expired instances the mass-expiry guard keeps listed, per service.");
        _meter.CreateObservableGauge("mesh.registry.instances", () => Observe(s => s.Instances.Count).Where(m => m.Value > 0),
            "{instance}", "Registered instances per service.");

        _sweepTimer = _time.CreateTimer(_ => OnSweepTimer(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        lock (_gate)
        {
            Arm(_time.GetUtcNow());
        }

        // A thread of its own: SQLite calls block, and a pool thread parked on them would be one of only a few.
        _leaseWriter = new Thread(WriteLeases) { IsBackground = true, Name = "Mesh.Registry lease writer" };
        _leaseWriter.Start();

        _logger.LogInformation("Registry store {Path}: index {Index}, {Services} services, {Instances} instances", _store.FilePath, _index,
            _services.Count, _services.Values.Sum(s => s.Instances.Count));
    }

    /// <summary>The SHA-256 of the admin token: configured, or generated on the first start and kept in the store.</summary>
    public byte[] AdminTokenHash { get; }

    public string StorePath => _store.FilePath;

    /// <summary>The store, for the parts of the registry that keep their own tables in it (join tokens).</summary>
    internal RegistryStore Store => _store;

    public TimeProvider Time => _time;

    /// <summary>Watches parked waiting for a change (for tests and diagnostics).</summary>
    public int WaitingWatches => Volatile.Read(ref _waiting);

    public static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Registers a new instance, changes one, or renews its lease. Returns the instance and whether it is new, once the
    /// change or the renewal is committed to the store.
    /// </summary>
    /// <remarks>
    /// A change (new, different or re-registered after expiry) is written in its own transaction under the lock before
    /// anyone can see it, because it takes a new index and wakes watchers: an index must never be shown that a crash
    /// could take back and hand out again. Changes are rare (deploys). A renewal moves only the lease, which no watcher
    /// waits on, and is the registry's hot path (every instance, every few seconds), so it is group-committed: the
    /// lease moves in memory at once, the instance joins the lease writer's next batch, and the call completes only
    /// when that batch is committed, so a renewal that was answered survives <c>kill -9</c> like every other write.
    /// </remarks>
    public async Task<(InstanceRecord Record, bool Created, long Index)> RegisterAsync(string service, string id, Registration registration)
    {
        Task written;
        InstanceRecord renewedRecord;
        long renewedIndex;
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var s = GetOrAdd(service);
            SweepService(s, now);
            var expires = now + TimeSpan.FromSeconds(registration.TtlSeconds);
            if (!s.Instances.TryGetValue(id, out var existing) || !SameRegistration(existing, registration))
            {
                return Change(s, id, registration, existing, now, expires);
            }

            existing.RenewedAt = now;
            existing.ExpiresAt = expires;
            written = QueueLease(existing);
            if (s.HeldSince is not null)
            {
                // A held instance came back: the share that would expire shrank, so look again.
                SweepService(s, now);
            }

            ArmIfEarlier(expires, now);
            renewedRecord = ToRecord(existing);
            renewedIndex = s.InstancesIndex;
        }

        await written;
        return (renewedRecord, false, renewedIndex);
    }

    /// <summary>A new or changed registration: written and committed under the lock, then shown and signalled.</summary>
    private (InstanceRecord Record, bool Created, long Index) Change(ServiceEntry s, string id, Registration registration, InstanceEntry? existing,
        DateTimeOffset now, DateTimeOffset expires)
    {
        var entry = new InstanceEntry
        {
            Service = s.Name,
            Id = id,
            Address = registration.Address,
            Version = registration.Version,
            Zone = registration.Zone,
            Labels = registration.Labels,
            TtlSeconds = registration.TtlSeconds,
            RenewedAt = now,
            ExpiresAt = expires,
        };
        var index = _index + 1;
        _store.PutInstance(entry, index);
        var created = existing is null;
        s.Instances[id] = entry;
        Changed(s, index, policy: false);
        if (s.HeldSince is not null)
        {
            SweepService(s, now);
        }

        ArmIfEarlier(expires, now);
        return (ToRecord(entry), created, index);
    }

    /// <summary>Removes an instance; false when there is none by that id.</summary>
    public bool Deregister(string service, string id)
    {
        lock (_gate)
        {
            if (!_services.TryGetValue(service, out var s))
            {
                return false;
            }

            var now = _time.GetUtcNow();
            SweepService(s, now);
            if (!s.Instances.ContainsKey(id))
            {
                return false;
            }

            var index = _index + 1;
            _store.RemoveInstances(s.Name, [id], index);
            s.Instances.Remove(id);
            Changed(s, index, policy: false);
            if (s.HeldSince is not null)
            {
                SweepService(s, now);
            }

            return true;
        }
    }

    public async Task<InstancesResponse> WatchInstancesAsync(string service, long? index, TimeSpan wait, CancellationToken cancellationToken)
    {
        Task changed;
        lock (_gate)
        {
            var s = Find(service, create: index is not null);
            if (s is not null)
            {
                SweepService(s, _time.GetUtcNow());
            }

            if (s is null || !ShouldWait(s.InstancesIndex, index))
            {
                return Instances(s);
            }

            changed = s.InstancesChanged.Task;
        }

        await WaitAsync(changed, wait, cancellationToken);
        lock (_gate)
        {
            var s = Find(service, create: false);
            if (s is not null)
            {
                SweepService(s, _time.GetUtcNow());
            }

            return Instances(s);
        }
    }

    public async Task<PolicyResponse> WatchPolicyAsync(string service, long? index, TimeSpan wait, CancellationToken cancellationToken)
    {
        Task changed;
        lock (_gate)
        {
            var s = Find(service, create: index is not null);
            if (s is null || !ShouldWait(s.PolicyIndex, index))
            {
                return Policy(service, s);
            }

            changed = s.PolicyChanged.Task;
        }

        await WaitAsync(changed, wait, cancellationToken);
        lock (_gate)
        {
            return Policy(service, Find(service, create: false));
        }
    }

    /// <summary>The catalog; watched on the global index, so it answers after any change anywhere.</summary>
    public async Task<ServicesResponse> WatchServicesAsync(long? index, TimeSpan wait, CancellationToken cancellationToken)
    {
        Task changed;
        lock (_gate)
        {
            SweepAll(_time.GetUtcNow());
            if (!ShouldWait(_index, index))
            {
                return Services();
            }

            changed = _anyChange.Task;
        }

        await WaitAsync(changed, wait, cancellationToken);
        lock (_gate)
        {
            SweepAll(_time.GetUtcNow());
            return Services();
        }
    }

    /// <summary>Stores <paramref name="document"/> (canonical JSON, already validated) as the service's new policy version.</summary>
    public (PolicyOutcome Outcome, PolicyResponse Policy) PutPolicy(string service, string document) => AddPolicyVersion(service, document, rollbackOf: null);

    public (PolicyOutcome Outcome, PolicyResponse Policy) DeletePolicy(string service)
    {
        lock (_gate)
        {
            var s = Find(service, create: false);
            if (s?.Policy?.Document is null)
            {
                return (PolicyOutcome.NotFound, Policy(service, s));
            }
        }

        return AddPolicyVersion(service, null, rollbackOf: null);
    }

    public StoredPolicyVersion? GetPolicyVersion(string service, long version)
    {
        lock (_gate)
        {
            return _store.GetPolicyVersion(service, version);
        }
    }

    /// <summary>Makes the document of <paramref name="target"/> current as a new version.</summary>
    public (PolicyOutcome Outcome, PolicyResponse Policy) Rollback(string service, StoredPolicyVersion target) =>
        target.Document is null ? (PolicyOutcome.IsDeletion, GetPolicy(service)) : AddPolicyVersion(service, target.Document, target.Version);

    public PolicyResponse GetPolicy(string service)
    {
        lock (_gate)
        {
            return Policy(service, Find(service, create: false));
        }
    }

    public PolicyHistoryResponse History(string service, int limit)
    {
        lock (_gate)
        {
            var versions = _store.GetPolicyHistory(service, limit);
            return new PolicyHistoryResponse
            {
                Service = service,
                Versions = versions.ConvertAll(v => new PolicyVersionRecord
                {
                    Version = v.Version,
                    CreatedAt = v.CreatedAt,
                    Document = ParseDocument(v.Document),
                    RollbackOf = v.RollbackOf,
                }),
            };
        }
    }

    /// <summary>Every listed service with its instances and policy version, as the dashboard shows them (without traffic).</summary>
    public DashboardResponse DashboardSnapshot()
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var answer = new DashboardResponse { Now = now, Index = _index };
            foreach (var s in _services.Values.OrderBy(s => s.Name, StringComparer.Ordinal))
            {
                SweepService(s, now);
                if (!s.IsListed)
                {
                    continue;
                }

                var service = new DashboardService { Name = s.Name, PolicyVersion = s.Policy?.Version ?? 0, PolicyUpdatedAt = s.Policy?.CreatedAt };
                foreach (var i in s.Instances.Values.OrderBy(i => i.Id, StringComparer.Ordinal))
                {
                    service.Instances.Add(new DashboardInstance
                    {
                        Id = i.Id,
                        Address = i.Address,
                        Version = i.Version,
                        Zone = i.Zone,
                        Health = i.ExpiresAt <= now ? "held" : "healthy",
                        LeaseAgeSeconds = Math.Round(Math.Max(0, (now - i.RenewedAt).TotalSeconds), 1),
                        TtlSeconds = i.TtlSeconds,
                    });
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

        _stopping.Cancel();
        _sweepTimer.Dispose();
        _meter.Dispose();

        // No renewal joins a batch after _disposed; the writer commits what is queued, sees it is done and ends.
        _leaseWork.Set();
        if (!_leaseWriter.Join(TimeSpan.FromSeconds(30)))
        {
            _logger.LogError("The lease writer did not finish within 30 s; closing the store anyway");
        }

        lock (_gate)
        {
            _store.Dispose();
        }

        // _stopping is not disposed: a watch finishing during shutdown may still link to its token. _leaseWork is not
        // either: a writer that did not finish may still use it.
    }

    /// <summary>Wakes every watch so the host can stop without waiting out long polls.</summary>
    public void StopWatches() => _stopping.Cancel();

    private (PolicyOutcome, PolicyResponse) AddPolicyVersion(string service, string? document, long? rollbackOf)
    {
        lock (_gate)
        {
            var s = GetOrAdd(service);
            if (s.Policy?.Document == document && (document is not null || s.Policy is not null))
            {
                return (PolicyOutcome.Unchanged, Policy(service, s));
            }

            var version = new StoredPolicyVersion((s.Policy?.Version ?? 0) + 1, document, _time.GetUtcNow(), rollbackOf);
            var index = _index + 1;
            _store.AddPolicyVersion(s.Name, version, index);
            s.Policy = version;
            Changed(s, index, policy: true);
            return (PolicyOutcome.Changed, Policy(service, s));
        }
    }

    /// <summary>Puts a renewed instance in the lease writer's next batch (under the lock); the task completes when it is committed.</summary>
    private Task QueueLease(InstanceEntry entry)
    {
        if (_pendingLeases.Count == 0)
        {
            _leaseWork.Set();
        }

        _pendingLeases.Add(entry);
        return _leasesWritten.Task;
    }

    /// <summary>
    /// The lease writer: commits each batch of renewals in one transaction, then completes the renewals' calls. While a
    /// batch commits, the next one fills, so the batch grows with the load and a lone renewal is written at once.
    /// </summary>
    /// <remarks>
    /// Under the registry's lock the writer takes the batch and copies each instance's lease as it is in memory then (so
    /// a later renewal in the same batch wins), skipping instances that are gone or were replaced since (deregistered,
    /// expired, changed): their removal or new row was committed on its own, after the renewal, and is the newer truth.
    /// Before it lets go of the registry's lock it takes the store's (<see cref="RegistryStore.Hold"/>), so a change
    /// that comes after the copy, and writes under the registry's lock, is written after the batch, never before it.
    /// The batch is then written without the registry's lock: renewals, reads and watch wake-ups go on while it commits
    /// (a WAL checkpoint can take a while on a slow disk); only a change waits for it.
    /// </remarks>
    private void WriteLeases()
    {
        while (true)
        {
            _leaseWork.Wait();
            TaskCompletionSource written;
            Lock.Scope store;
            lock (_gate)
            {
                _leaseWork.Reset();
                if (_pendingLeases.Count == 0)
                {
                    if (_disposed)
                    {
                        return;
                    }

                    continue;
                }

                foreach (var entry in _pendingLeases)
                {
                    if (IsCurrent(entry))
                    {
                        _leaseSnapshot.Add(Clone(entry));
                    }
                }

                _pendingLeases.Clear();
                written = _leasesWritten;
                _leasesWritten = NewSignal();
                store = _store.Hold();
            }

            Exception? failure = null;
            try
            {
                _store.RenewAll(_leaseSnapshot);
            }
#pragma warning disable CA1031 // the renewals' calls get the failure (a 500); the writer must go on for the next batch
            catch (Exception ex)
#pragma warning restore CA1031
            {
                failure = ex;
            }
            finally
            {
                store.Dispose();
            }

            if (failure is null)
            {
                written.TrySetResult();
            }
            else
            {
                _logger.LogError(failure, "Writing {Count} renewed leases failed; their renewals were not acknowledged", _leaseSnapshot.Count);
                written.TrySetException(failure);
            }

            _leaseSnapshot.Clear();
        }
    }

    private bool IsCurrent(InstanceEntry entry) =>
        _services.TryGetValue(entry.Service, out var s) && s.Instances.TryGetValue(entry.Id, out var current) && ReferenceEquals(current, entry);

    private async Task WaitAsync(Task changed, TimeSpan wait, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        var delay = Task.Delay(wait, _time, cts.Token);
        Interlocked.Increment(ref _waiting);
        try
        {
            await Task.WhenAny(changed, delay);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }

        await cts.CancelAsync();
    }

    /// <summary>Whether a watch at <paramref name="index"/> waits: only when the state is not newer than it and it is not from the future.</summary>
    private bool ShouldWait(long current, long? index) => index is { } i && current <= i && i <= _index;

    private void Changed(ServiceEntry s, long index, bool policy)
    {
        _index = index;
        if (policy)
        {
            s.PolicyIndex = index;
            var signal = s.PolicyChanged;
            s.PolicyChanged = NewSignal();
            signal.TrySetResult();
        }
        else
        {
            s.InstancesIndex = index;
            var signal = s.InstancesChanged;
            s.InstancesChanged = NewSignal();
            signal.TrySetResult();
        }

        var any = _anyChange;
        _anyChange = NewSignal();
        any.TrySetResult();
    }

    private void OnSweepTimer()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            var now = _time.GetUtcNow();
            _armedFor = null;
            try
            {
                SweepAll(now);
                Arm(now);
            }
#pragma warning disable CA1031 // a failing store must not take the process down from a timer; try again shortly
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _logger.LogError(ex, "Lease sweep failed; retrying in one second");
                _armedFor = now + TimeSpan.FromSeconds(1);
                _sweepTimer.Change(TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
            }
        }
    }

    private void SweepAll(DateTimeOffset now)
    {
        foreach (var s in _services.Values)
        {
            SweepService(s, now);
        }
    }

    /// <summary>
    /// Expires the service's instances whose lease has passed, unless that would be more than the threshold's share of
    /// the service within one lease window (the longest TTL among its instances): then the guard holds them, until
    /// renewals bring the share back under the threshold or <see cref="RegistryOptions.MassExpiryMaxHold"/> passes.
    /// </summary>
    private void SweepService(ServiceEntry s, DateTimeOffset now)
    {
        List<InstanceEntry>? expired = null;
        var window = TimeSpan.Zero;
        foreach (var i in s.Instances.Values)
        {
            if (i.ExpiresAt <= now)
            {
                (expired ??= []).Add(i);
            }

            window = TimeSpan.FromSeconds(Math.Max(window.TotalSeconds, i.TtlSeconds));
        }

        while (s.RecentExpirations.TryPeek(out var at) && at <= now - window)
        {
            s.RecentExpirations.Dequeue();
        }

        if (expired is null)
        {
            Release(s, "no instance of it has an expired lease");
            return;
        }

        if (s.HeldSince is { } since && now - since >= _options.MassExpiryMaxHold)
        {
            _logger.LogWarning("Mass-expiry guard: releasing {Count} held instances of {Service} after holding them for {Duration}",
                expired.Count, s.Name, now - since);
            Expire(s, expired, now, countInWindow: false);
            Release(s, null);
            return;
        }

        var recent = s.RecentExpirations.Count;
        if (expired.Count + recent > _options.MassExpiryThreshold * (s.Instances.Count + recent))
        {
            if (s.HeldSince is null)
            {
                s.HeldSince = now;
                _guardActivations.Add(1, new KeyValuePair<string, object?>("service", s.Name));
                _logger.LogWarning(
                    "Mass-expiry guard: {Count} of {Total} instances of {Service} would expire within {Window} (threshold {Threshold}); holding them",
                    expired.Count + recent, s.Instances.Count + recent, s.Name, window, _options.MassExpiryThreshold);
            }

            s.HeldCount = expired.Count;
            return;
        }

        Expire(s, expired, now, countInWindow: true);
        Release(s, "the share of expiring instances fell under the threshold");
    }

    private void Release(ServiceEntry s, string? why)
    {
        if (s.HeldSince is not null && why is not null)
        {
            _logger.LogInformation("Mass-expiry guard: no longer holding instances of {Service}: {Reason}", s.Name, why);
        }

        s.HeldSince = null;
        s.HeldCount = 0;
    }

    private void Expire(ServiceEntry s, List<InstanceEntry> expired, DateTimeOffset now, bool countInWindow)
    {
        var index = _index + 1;
        _store.RemoveInstances(s.Name, expired.Select(i => i.Id), index);
        foreach (var i in expired)
        {
            s.Instances.Remove(i.Id);
            if (countInWindow)
            {
                s.RecentExpirations.Enqueue(now);
            }
        }

        Changed(s, index, policy: false);
        _expired.Add(expired.Count, new KeyValuePair<string, object?>("service", s.Name));
        _logger.LogInformation("Expired {Count} instances of {Service}: {Ids}", expired.Count, s.Name, string.Join(", ", expired.Select(i => i.Id)));
    }

    /// <summary>
    /// Arms the sweep timer for the earliest lease deadline (at once for one already passed, e.g. after a restart) or
    /// guard release. Instances the guard holds wait for their service's release instead.
    /// </summary>
    private void Arm(DateTimeOffset now)
    {
        DateTimeOffset? next = null;
        foreach (var s in _services.Values)
        {
            foreach (var i in s.Instances.Values)
            {
                if ((s.HeldSince is null || i.ExpiresAt > now) && (next is null || i.ExpiresAt < next))
                {
                    next = i.ExpiresAt;
                }
            }

            if (s.HeldSince is { } since && (next is null || since + _options.MassExpiryMaxHold < next))
            {
                next = since + _options.MassExpiryMaxHold;
            }
        }

        SetTimer(next, now);
    }

    private void ArmIfEarlier(DateTimeOffset deadline, DateTimeOffset now)
    {
        if (_armedFor is null || deadline < _armedFor)
        {
            SetTimer(deadline, now);
        }
    }

    private void SetTimer(DateTimeOffset? at, DateTimeOffset now)
    {
        _armedFor = at;
        if (at is null)
        {
            _sweepTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }

        // Never zero (a zero due time may fire on this thread, under the lock), never beyond what a timer takes.
        var due = at.Value - now;
        due = due < TimeSpan.FromTicks(1) ? TimeSpan.FromTicks(1) : due > TimeSpan.FromDays(1) ? TimeSpan.FromDays(1) : due;
        _sweepTimer.Change(due, Timeout.InfiniteTimeSpan);
    }

    private ServiceEntry GetOrAdd(string service)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_services.TryGetValue(service, out var s))
        {
            _services[service] = s = new ServiceEntry(service);
        }

        return s;
    }

    private ServiceEntry? Find(string service, bool create) =>
        _services.TryGetValue(service, out var s) ? s : create ? GetOrAdd(service) : null;

    private static InstancesResponse Instances(ServiceEntry? s) => new()
    {
        Index = s?.InstancesIndex ?? 0,
        Instances = s is null ? [] : [.. s.Instances.Values.OrderBy(i => i.Id, StringComparer.Ordinal).Select(ToRecord)],
    };

    private static PolicyResponse Policy(string service, ServiceEntry? s) => new()
    {
        Service = service,
        Version = s?.Policy?.Version ?? 0,
        Index = s?.PolicyIndex ?? 0,
        Document = ParseDocument(s?.Policy?.Document),
        UpdatedAt = s?.Policy?.CreatedAt,
    };

    private ServicesResponse Services() => new()
    {
        Index = _index,
        Services = [.. _services.Values.Where(s => s.IsListed).OrderBy(s => s.Name, StringComparer.Ordinal).Select(s => new ServiceSummary
        {
            Name = s.Name,
            Instances = s.Instances.Count,
            PolicyVersion = s.Policy?.Version ?? 0,
            HeldInstances = s.HeldCount,
        })],
    };

    private List<Measurement<int>> Observe(Func<ServiceEntry, int> value)
    {
        lock (_gate)
        {
            return [.. _services.Values.Select(s => new Measurement<int>(value(s), new KeyValuePair<string, object?>("service", s.Name)))];
        }
    }

    private static JsonElement? ParseDocument(string? document)
    {
        if (document is null)
        {
            return null;
        }

        using var doc = JsonDocument.Parse(document);
        return doc.RootElement.Clone();
    }

    private static InstanceRecord ToRecord(InstanceEntry i) => new()
    {
        Id = i.Id,
        Service = i.Service,
        Address = i.Address,
        Version = i.Version,
        Zone = i.Zone,
        Labels = new Dictionary<string, string>(i.Labels, StringComparer.Ordinal),
        TtlSeconds = i.TtlSeconds,
        ExpiresAt = i.ExpiresAt,
    };

    private static InstanceEntry Clone(InstanceEntry i) => new()
    {
        Service = i.Service,
        Id = i.Id,
        Address = i.Address,
        Version = i.Version,
        Zone = i.Zone,
        Labels = i.Labels,
        TtlSeconds = i.TtlSeconds,
        RenewedAt = i.RenewedAt,
        ExpiresAt = i.ExpiresAt,
    };

    private static bool SameRegistration(InstanceEntry e, Registration r) =>
        e.Address == r.Address && e.Version == r.Version && e.Zone == r.Zone && e.TtlSeconds == r.TtlSeconds &&
        e.Labels.Count == r.Labels.Count && e.Labels.All(kv => r.Labels.TryGetValue(kv.Key, out var v) && v == kv.Value);

    private void Load()
    {
        var stored = _store.Load();
        _index = stored.Index;
        foreach (var (name, (instancesIndex, policyIndex)) in stored.Services)
        {
            var s = GetOrAdd(name);
            s.InstancesIndex = instancesIndex;
            s.PolicyIndex = policyIndex;
        }

        foreach (var i in stored.Instances)
        {
            GetOrAdd(i.Service).Instances[i.Id] = i;
        }

        foreach (var (name, policy) in stored.CurrentPolicies)
        {
            GetOrAdd(name).Policy = policy;
        }
    }

    private byte[] LoadAdminTokenHash(TextWriter console)
    {
        if (!string.IsNullOrEmpty(_options.AdminToken))
        {
            return RegistryAuth.Hash(_options.AdminToken);
        }

        if (_store.GetMeta(AdminHashKey) is { } stored)
        {
            _logger.LogInformation("Using the admin token whose hash is kept in the store (MeshRegistry:AdminToken is not set)");
            return Convert.FromHexString(stored);
        }

        var token = "mesh-admin-" + Base64Url(RandomNumberGenerator.GetBytes(32));
        var hash = RegistryAuth.Hash(token);
        _store.SetMeta(AdminHashKey, Convert.ToHexString(hash));
        var text = new StringBuilder()
            .AppendLine("MeshRegistry: no MeshRegistry:AdminToken is configured, so one was generated. It is shown only this once;")
            .AppendLine("MeshRegistry: the store keeps only its SHA-256 hash. Keep it somewhere safe.")
            .Append("MeshRegistry: admin token: ").AppendLine(token)
            .ToString();
        console.Write(text);
        console.Flush();
        return hash;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
