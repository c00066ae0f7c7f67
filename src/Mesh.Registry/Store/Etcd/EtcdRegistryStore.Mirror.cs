using Etcdserverpb;
using Grpc.Core;
using Mesh.Registry.Watches;
using Mvccpb;

namespace Mesh.Registry.Store.Etcd;

/// <summary>
/// The mirror: a full read at start, then one etcd watch on the prefix from the next revision, applied in order. The
/// mirror's revision moves only past events it applied, so "the mirror has revision R" means it has every write under
/// the prefix up to R. It never takes a revision from a response without events: the watch's created answer carries
/// the cluster's current revision before the replay, and etcd 3.4.23 (Debian's) can answer a progress request before
/// events still queued (etcd issue 15220). To know it is current, a read looks up the revision of the registry's latest
/// write (every transaction writes <c>meta/last-write</c>) and waits to see it come through (<see cref="CatchUpAsync"/>).
/// </summary>
internal sealed partial class EtcdRegistryStore
{
    private readonly SemaphoreSlim _watchSend = new(1, 1);

    // The services of the last changes, by change count, so a watch of many services woken by a change looks at what changed.
    private readonly RecentChanges _recentChanges = new();
    private bool _sweepSoon;

    /// <summary>
    /// Reads the whole prefix at one revision, then replaces the mirror with it in one step: a reload (after
    /// compaction) must never let a read see the mirror half-built, nor leave it empty when etcd fails half-way.
    /// </summary>
    private async Task LoadAsync()
    {
        var start = EtcdKeys.Bytes(_keys.Prefix);
        var end = EtcdKeys.RangeEnd(_keys.Prefix);
        long revision = 0;
        var key = start;
        var kvs = new List<KeyValue>();
        while (true)
        {
            var request = new RangeRequest { Key = key, RangeEnd = end, Limit = PageSize, Revision = revision };
            var page = await RangeAsync("the registry's state", request).ConfigureAwait(false);
            if (revision == 0)
            {
                revision = page.Header.Revision;
            }

            kvs.AddRange(page.Kvs);
            if (!page.More || page.Kvs.Count == 0)
            {
                break;
            }

            key = Google.Protobuf.ByteString.CopyFrom([.. page.Kvs[^1].Key.Span, 0]);
        }

        lock (_gate)
        {
            // The old entries go: wake the watches parked on them, so they read the new ones.
            var old = _services.Values.ToList();
            _services.Clear();
            _pendingLeases.Clear();
            _decider = null;
            foreach (var kv in kvs)
            {
                ApplyPut(kv, null);
            }

            _revision = Math.Max(_revision, revision);
            var index = _index;
            foreach (var s in _services.Values)
            {
                index = Math.Max(index, Math.Max(s.InstancesIndex, s.PolicyIndex));
            }

            _index = index;

            // Everything may have changed (a reload after compaction): wake every watch to look again, at everything.
            _recentChanges.ForgetAll();
            foreach (var s in old)
            {
                Signal(s, instances: true, policy: true);
            }

            foreach (var s in _services.Values)
            {
                Signal(s, instances: true, policy: true);
            }

            Signal(_anyChange, n => _anyChange = n);
            Signal(_applied, n => _applied = n);
        }
    }

    private async Task WatchLoopAsync()
    {
        var failures = 0;
        while (!_closing.IsCancellationRequested)
        {
            try
            {
                // hasleader: a member cut off from its leader ends the watch, so the loop moves to one that has it.
                var headers = new Metadata { { "hasleader", "true" } };
                using var call = _connection.Raw.WatchClient.Watch(headers, cancellationToken: _closing.Token);
                long from;
                lock (_gate)
                {
                    from = _revision + 1;
                }

                await SendWatchAsync(call.RequestStream, new WatchRequest
                {
                    CreateRequest = new WatchCreateRequest
                    {
                        Key = EtcdKeys.Bytes(_keys.Prefix),
                        RangeEnd = EtcdKeys.RangeEnd(_keys.Prefix),
                        StartRevision = from,
                    },
                }).ConfigureAwait(false);
                await foreach (var response in call.ResponseStream.ReadAllAsync(_closing.Token).ConfigureAwait(false))
                {
                    if (response.CompactRevision > 0)
                    {
                        _logger.LogWarning("etcd compacted revision {Revision} away before this replica read it; reading the whole state again",
                            response.CompactRevision);
                        await LoadAsync().ConfigureAwait(false);
                        break;
                    }

                    if (response.Canceled)
                    {
                        throw new InvalidOperationException($"etcd ended the registry's watch: {response.CancelReason}");
                    }

                    Apply(response);
                    failures = 0;
                }
            }
            catch (OperationCanceledException) when (_closing.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // the watch is the mirror's only feed: whatever ended it, open it again
            catch (Exception ex)
#pragma warning restore CA1031
            {
                failures++;
                _logger.Log(failures == 1 ? LogLevel.Warning : LogLevel.Debug, ex, "The watch on etcd ended; opening it again (attempt {Attempt})", failures);
            }
            try
            {
                var backoff = TimeSpan.FromMilliseconds(Math.Min(1000, 50 * (1 << Math.Min(failures, 5))));
                await Task.Delay(backoff, TimeProvider.System, _closing.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Apply(WatchResponse response)
    {
        lock (_gate)
        {
            var touched = new HashSet<(EtcdServiceEntry, bool)>();
            var revision = _revision;
            foreach (var e in response.Events)
            {
                if (e.Type == Event.Types.EventType.Put)
                {
                    ApplyPut(e.Kv, touched);
                }
                else
                {
                    ApplyDelete(e.Kv, touched);
                }

                revision = Math.Max(revision, e.Kv.ModRevision);
            }

            var catalogChanged = false;
            foreach (var (s, policy) in touched)
            {
                _recentChanges.Add(s.Name);
                Signal(s, instances: !policy, policy: policy);
                _index = Math.Max(_index, policy ? s.PolicyIndex : s.InstancesIndex);
                catalogChanged = true;
            }

            if (catalogChanged)
            {
                Signal(_anyChange, n => _anyChange = n);
            }

            if (revision > _revision)
            {
                _revision = revision;
                Signal(_applied, n => _applied = n);
            }

            if (_isDecider && (touched.Count > 0 || _sweepSoon))
            {
                var now = _time.GetUtcNow();
                if (_sweepSoon)
                {
                    ArmAt(now, now);
                }
                else
                {
                    Arm(now);
                }
            }

            _sweepSoon = false;
        }
    }

    /// <summary>Applies one key's new value; <paramref name="touched"/> collects what changed for the watches (null while loading).</summary>
    private void ApplyPut(KeyValue kv, HashSet<(EtcdServiceEntry, bool)>? touched)
    {
        var key = kv.Key.ToStringUtf8();
        if (key == _keys.Decider)
        {
            _decider = kv.Value.ToStringUtf8();
            return;
        }

        if (_keys.Parse(key) is not { } parsed)
        {
            return;
        }

        switch (parsed.Folder)
        {
            case EtcdKeys.InstancesFolder when parsed.Id is { } id:
            {
                var s = GetOrAdd(parsed.Name);
                var value = Parse(kv.Value, EtcdJsonContext.Default.EtcdInstanceValue);
                if (!s.Instances.TryGetValue(id, out var entry))
                {
                    entry = new EtcdInstanceEntry { Service = parsed.Name, Id = id, Value = value };
                    s.Instances[id] = entry;
                    if (_pendingLeases.Remove((parsed.Name, id), out var pending))
                    {
                        SetLease(entry, pending.Value, pending.ModRevision);
                    }
                }

                entry.Value = value;
                entry.Lease = kv.Lease;
                entry.ModRevision = kv.ModRevision;
                touched?.Add((s, false));
                break;
            }

            case EtcdKeys.LeasesFolder when parsed.Id is { } id:
            {
                var value = Parse(kv.Value, EtcdJsonContext.Default.EtcdLeaseValue);
                if (value.Traffic is { } traffic)
                {
                    _traffic.RecordMirrored(parsed.Name, id, traffic);
                }

                if (_services.TryGetValue(parsed.Name, out var s) && s.Instances.TryGetValue(id, out var entry))
                {
                    SetLease(entry, value, kv.ModRevision);

                    // A held instance came back: the share that would expire shrank, so the decider looks again now.
                    _sweepSoon |= s.HeldSince is not null;
                }
                else
                {
                    _pendingLeases[(parsed.Name, id)] = (value, kv.ModRevision);
                }

                break;
            }

            case EtcdKeys.InstancesIndexFolder:
            {
                var s = GetOrAdd(parsed.Name);
                s.InstancesIndex = Math.Max(s.InstancesIndex, kv.ModRevision);
                touched?.Add((s, false));
                break;
            }

            case EtcdKeys.PoliciesFolder:
            {
                var s = GetOrAdd(parsed.Name);
                s.Policy = ToStored(Parse(kv.Value, EtcdJsonContext.Default.EtcdPolicyValue));
                s.PolicyIndex = kv.ModRevision;
                touched?.Add((s, true));
                break;
            }

            case EtcdKeys.RecentExpirationsFolder:
            {
                var s = GetOrAdd(parsed.Name);
                s.RecentExpirations.Clear();
                foreach (var at in Parse(kv.Value, EtcdJsonContext.Default.ListDateTimeOffset))
                {
                    s.RecentExpirations.Enqueue(at);
                }

                break;
            }

            case EtcdKeys.HeldFolder:
            {
                var s = GetOrAdd(parsed.Name);
                var held = Parse(kv.Value, EtcdJsonContext.Default.EtcdHeldValue);
                s.HeldSince = held.Since;
                s.HeldCount = held.Count;
                break;
            }

            case EtcdKeys.JoinTokensFolder:
                MirrorJoinToken(parsed.Name, kv);
                break;
        }
    }

    private void ApplyDelete(KeyValue kv, HashSet<(EtcdServiceEntry, bool)> touched)
    {
        var key = kv.Key.ToStringUtf8();
        if (key == _keys.Decider)
        {
            _decider = null;
            return;
        }

        if (_keys.Parse(key) is { Folder: EtcdKeys.JoinTokensFolder } token)
        {
            MirrorJoinToken(token.Name, null);
            return;
        }

        if (_keys.Parse(key) is not { } parsed || !_services.TryGetValue(parsed.Name, out var s))
        {
            if (_keys.Parse(key) is { Folder: EtcdKeys.LeasesFolder, Id: { } orphan } lease)
            {
                _pendingLeases.Remove((lease.Name, orphan));
            }

            return;
        }

        switch (parsed.Folder)
        {
            case EtcdKeys.InstancesFolder when parsed.Id is { } id && s.Instances.Remove(id):
                _traffic.Remove(parsed.Name, id);
                // etcd removed it at the end of its lease (no replica ran to expire it) or a replica did, with an index key write.
                s.InstancesIndex = Math.Max(s.InstancesIndex, kv.ModRevision);
                touched.Add((s, false));
                break;
            case EtcdKeys.LeasesFolder when parsed.Id is { } id:
                _pendingLeases.Remove((parsed.Name, id));
                break;
            case EtcdKeys.HeldFolder:
                s.HeldSince = null;
                s.HeldCount = 0;
                break;
        }
    }

    private static void SetLease(EtcdInstanceEntry entry, EtcdLeaseValue value, long modRevision)
    {
        entry.RenewedAt = value.RenewedAt;
        entry.ExpiresAt = value.ExpiresAt;
        entry.LeaseModRevision = modRevision;
    }

    private EtcdServiceEntry GetOrAdd(string service)
    {
        if (!_services.TryGetValue(service, out var s))
        {
            _services[service] = s = new EtcdServiceEntry(service);
        }

        return s;
    }

    private static void Signal(EtcdServiceEntry s, bool instances, bool policy)
    {
        if (instances)
        {
            var signal = s.InstancesChanged;
            s.InstancesChanged = WatchSignal.New();
            signal.TrySetResult();
        }

        if (policy)
        {
            var signal = s.PolicyChanged;
            s.PolicyChanged = WatchSignal.New();
            signal.TrySetResult();
        }
    }

    private static void Signal(TaskCompletionSource signal, Action<TaskCompletionSource> replace)
    {
        replace(WatchSignal.New());
        signal.TrySetResult();
    }

    /// <summary>
    /// Waits until the mirror has every write any replica had acknowledged when this was called: one linearizable read
    /// of the <c>meta/last-write</c> key, which every registry transaction writes (<see cref="CommitAsync"/>), so its
    /// revision is that of the latest write under the prefix; the mirror has caught up once it applied that revision.
    /// </summary>
    private async Task CatchUpAsync()
    {
        var read = await RangeAsync("the revision of the registry's last write", new RangeRequest { Key = EtcdKeys.Bytes(_keys.LastWrite), KeysOnly = true })
            .ConfigureAwait(false);
        if (read.Kvs.Count > 0)
        {
            await WaitAppliedAsync(read.Kvs[0].ModRevision, throwOnTimeout: true).ConfigureAwait(false);
        }
    }

    /// <summary>Waits until the mirror has applied <paramref name="revision"/> of a write under the prefix, at most the request timeout.</summary>
    private async Task WaitAppliedAsync(long revision, bool throwOnTimeout)
    {
        var deadline = TimeProvider.System.GetTimestamp() + (long)(_connection.Timeout.TotalSeconds * TimeProvider.System.TimestampFrequency);
        while (true)
        {
            Task applied;
            lock (_gate)
            {
                if (_revision >= revision)
                {
                    return;
                }

                applied = _applied.Task;
            }

            var left = TimeProvider.System.GetElapsedTime(TimeProvider.System.GetTimestamp(), deadline);
            if (left <= TimeSpan.Zero || _closing.IsCancellationRequested)
            {
                if (!throwOnTimeout)
                {
                    return;
                }

                throw new RegistryStoreUnavailableException(
                    $"this replica's view of etcd did not reach revision {revision} within {_connection.Timeout.TotalSeconds:0.#} s (its watch on etcd is down)");
            }

            await Task.WhenAny(applied, Task.Delay(left, TimeProvider.System)).ConfigureAwait(false);
        }
    }

    private async Task SendWatchAsync(IClientStreamWriter<WatchRequest> stream, WatchRequest request)
    {
        await _watchSend.WaitAsync(_closing.Token).ConfigureAwait(false);
        try
        {
            await stream.WriteAsync(request, _closing.Token).ConfigureAwait(false);
        }
        finally
        {
            _watchSend.Release();
        }
    }
}
