using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using Mesh.Client.Registry;
using Mesh.Registry.Contracts;
using Mesh.Registry.Dashboard;
using Mesh.Registry.Policies;
using Mesh.Registry.Watches;
using Microsoft.Extensions.Options;

namespace Mesh.Registry.Store.Sqlite;

/// <summary>
/// The embedded store: every service's instances with their leases and its versioned policy, kept in memory for reads
/// and watches and written through to <see cref="SqliteRegistryDatabase"/> before a change is acknowledged.
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
internal sealed partial class SqliteRegistryStore : IRegistryStore
{
    private const string AdminHashKey = "admin_token_sha256";

    private readonly Lock _gate = new();
    private readonly Dictionary<string, ServiceEntry> _services = new(StringComparer.Ordinal);
    private readonly SqliteRegistryDatabase _store;
    private readonly RegistryOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<SqliteRegistryStore> _logger;
    private readonly TrafficStatsStore _traffic;
    private readonly ITimer _sweepTimer;
    private readonly Meter _meter;
    private readonly Counter<long> _expired;
    private readonly Counter<long> _guardActivations;
    private readonly CancellationTokenSource _stopping = new();
    private TaskCompletionSource _anyChange = WatchSignal.New();

    // The service of each of the last changes since the start, at its index modulo the length (every change takes the
    // next index): a woken watch of many services reads what changed since it last looked here, not all it names.
    private readonly RecentChanges _recentChanges = new();

    // Group commit of renewals (see RegisterAsync). Under _gate: the renewed instances waiting for the lease writer, and
    // the signal their batch completes once it is committed. _leaseWork is set when the batch goes from empty to not
    // empty, and reset by the writer when it takes the batch; it does not spin (two cores are shared with Kestrel).
    // _leaseSnapshot is the writer's own copy of a batch's leases, written while _gate is free.
    private readonly ManualResetEventSlim _leaseWork = new(false, spinCount: 0);
    private readonly Thread _leaseWriter;
    private readonly HashSet<InstanceEntry> _pendingLeases = [];
    private readonly List<InstanceEntry> _leaseSnapshot = [];
    private TaskCompletionSource _leasesWritten = WatchSignal.New();
    private DateTimeOffset? _armedFor;
    private long _index;
    private readonly WatchCounter _waiting = new();
    private bool _disposed;

    public SqliteRegistryStore(IOptions<RegistryOptions> options, IHostEnvironment environment, TimeProvider time, ILogger<SqliteRegistryStore> logger,
        IMeterFactory meters, RegistryConsole console, TrafficStatsStore traffic)
    {
        _traffic = traffic;
        _options = options.Value;
        _time = time;
        _logger = logger;
        var path = Path.IsPathRooted(_options.DataPath) ? _options.DataPath : Path.Combine(environment.ContentRootPath, _options.DataPath);
        _store = new SqliteRegistryDatabase(path);
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

    public byte[] AdminTokenHash { get; }

    /// <summary>The SQLite file's folder.</summary>
    public string? LocalDirectory => Path.GetDirectoryName(_store.FilePath);

    public int WaitingWatches => _waiting.Count;

    /// <summary>
    /// Registers a new instance, changes one, or renews its lease. Returns the instance and whether it is new, once the
    /// change or the renewal is committed to the store; or the refusal of a new id when the service already has
    /// <see cref="RegistryOptions.MaxInstancesPerService"/> instances (exact: counted under the lock that writes).
    /// </summary>
    /// <remarks>
    /// A change (new, different or re-registered after expiry) is written in its own transaction under the lock before
    /// anyone can see it, because it takes a new index and wakes watchers: an index must never be shown that a crash
    /// could take back and hand out again. Changes are rare (deploys). A renewal moves only the lease, which no watcher
    /// waits on, and is the registry's hot path (every instance, every few seconds), so it is group-committed: the
    /// lease moves in memory at once, the instance joins the lease writer's next batch, and the call completes only
    /// when that batch is committed, so a renewal that was answered survives <c>kill -9</c> like every other write.
    /// </remarks>
    public async Task<InstanceWrite> RegisterAsync(string service, string id, Registration registration)
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
                // Swept just above, so the count is the live and held instances: a new id beyond the limit is refused
                // here, where a new id is told from a renewal anyway, and renewals pay nothing for it.
                return existing is null && s.Instances.Count >= _options.MaxInstancesPerService
                    ? InstanceWrite.TooMany(s.InstancesIndex)
                    : Change(s, id, registration, existing, now, expires);
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
        return new InstanceWrite(renewedRecord, false, renewedIndex);
    }

    /// <summary>A new or changed registration: written and committed under the lock, then shown and signalled.</summary>
    private InstanceWrite Change(ServiceEntry s, string id, Registration registration, InstanceEntry? existing,
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
        return new InstanceWrite(ToRecord(entry), created, index);
    }

    public Task<bool> DeregisterAsync(string service, string id) => Task.FromResult(Deregister(service, id));

    private bool Deregister(string service, string id)
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

    /// <summary>Always: the embedded store has one registry.</summary>
    public bool DrivesRollouts => true;

    public Task<StoredRollout?> GetRolloutAsync(string service) => Task.FromResult(_store.GetRollout(service));

    public Task<IReadOnlyList<StoredRollout>> ListRolloutsAsync() => Task.FromResult<IReadOnlyList<StoredRollout>>(_store.ListRollouts());

    public Task<StoredRollout?> WriteRolloutAsync(string service, string document, long expectedRevision, bool asDriver) =>
        Task.FromResult(_store.WriteRollout(service, document, expectedRevision));

    public Task<PolicyWrite> WritePolicyAsync(string service, PolicyChange change) => Task.FromResult(WritePolicy(service, change));

    public Task<StoredPolicyVersion?> GetPolicyVersionAsync(string service, long version)
    {
        lock (_gate)
        {
            return Task.FromResult(_store.GetPolicyVersion(service, version));
        }
    }

    public Task<IReadOnlyList<StoredPolicyVersion>> GetPolicyHistoryAsync(string service, int limit)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<StoredPolicyVersion>>(_store.GetPolicyHistory(service, limit));
        }
    }

    public Task<DashboardResponse> ReadDashboardAsync() => Task.FromResult(DashboardSnapshot());

    public IReadOnlyList<JoinToken> LoadJoinTokens() => _store.LoadJoinTokens();

    // One process owns the file: every change to its tokens is this registry's own, already in its memory.
    public event Action<JoinToken>? JoinTokenStored
    {
        add { }
        remove { }
    }

    public event Action<string>? JoinTokenDropped
    {
        add { }
        remove { }
    }

    public Task AddJoinTokenAsync(JoinToken token, IReadOnlyCollection<string> expired)
    {
        _store.AddJoinToken(token, expired);
        return Task.CompletedTask;
    }

    public Task<bool> DeleteJoinTokenAsync(string id) => Task.FromResult(_store.DeleteJoinToken(id));

    public Task<int?> TryUseJoinTokenAsync(string id) => Task.FromResult(_store.ChangeJoinTokenUsed(id, +1));

    public Task<int?> GiveBackJoinTokenUseAsync(string id) => Task.FromResult(_store.ChangeJoinTokenUsed(id, -1));

    private DashboardResponse DashboardSnapshot()
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
                    service.Instances.Add(DashboardInstance.Of(i.Id, i.Address, i.Version, i.Zone, i.TtlSeconds, i.ExpiresAt, i.RenewedAt, now));
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

    /// <summary>
    /// Checks the expected version, then writes the next version and commits it under the lock, so of two writers that
    /// expect the same version the second sees the first's version and is refused.
    /// </summary>
    private PolicyWrite WritePolicy(string service, PolicyChange change)
    {
        lock (_gate)
        {
            var s = GetOrAdd(service);
            var current = s.Policy?.Version ?? 0;
            if (change.ExpectedVersion is { } expected && expected != current)
            {
                return new PolicyWrite(PolicyOutcome.VersionMismatch, Policy(service, s));
            }

            if (change.Document is null && s.Policy?.Document is null)
            {
                return new PolicyWrite(PolicyOutcome.NotFound, Policy(service, s));
            }

            if (s.Policy is not null && s.Policy.Document == change.Document)
            {
                return new PolicyWrite(PolicyOutcome.Unchanged, Policy(service, s));
            }

            var version = new StoredPolicyVersion(current + 1, change.Document, _time.GetUtcNow(), change.RollbackOf);
            var index = _index + 1;
            _store.AddPolicyVersion(s.Name, version, index);
            s.Policy = version;
            Changed(s, index, policy: true);
            return new PolicyWrite(PolicyOutcome.Changed, Policy(service, s));
        }
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
        Document = PolicyJson.Parse(s?.Policy?.Document),
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
