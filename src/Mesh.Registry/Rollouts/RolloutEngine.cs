using System.Globalization;
using System.Text;
using System.Text.Json;
using Mesh.Registry.Api;
using Mesh.Registry.Policies;
using Mesh.Registry.Store;
using Mesh.Registry.Watches;

namespace Mesh.Registry.Rollouts;

/// <summary>
/// Runs rollouts: sets a route's weights step by step as new policy versions (written as a policy <c>PUT</c> writes
/// them, so history and rollback see them), judges each step's window from the traffic the instances report, and
/// rolls back, moves on or promotes. Every change is stored before it acts, and the store's revision guards every
/// write, so an operator's command and the driver never overwrite each other and a restarted registry carries on.
/// </summary>
/// <remarks>
/// A step is judged once <see cref="RolloutSpec.StepInterval"/> has passed since its window opened. With fewer than
/// <see cref="RolloutAnalysis.MinRequests"/> canary requests it waits another interval, up to
/// <see cref="MaxIntervalsPerStep"/> intervals in all, and then fails. The clock is the registry's
/// <see cref="TimeProvider"/>; <see cref="TickAsync"/> is called by <see cref="RolloutDriver"/> (and by tests).
/// </remarks>
internal sealed class RolloutEngine(IRegistryStore store, RolloutTrafficWindows windows, RolloutMetrics metrics, TimeProvider time,
    ILogger<RolloutEngine> logger) : IDisposable
{
    /// <summary>The longest a step's window stretches, in intervals, while it waits for enough canary requests.</summary>
    public const int MaxIntervalsPerStep = 3;

    // Writes that lose a race with another writer read again and retry this many times before giving up.
    private const int Attempts = 5;

    /// <summary>How many of a policy's latest versions a tick reads to find the one the rollout set; past that, only the weights tell.</summary>
    private const int HistoryLooked = 50;

    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>The service's rollout with its running window's numbers so far, as <c>GET</c> answers it; null when it has none.</summary>
    public async Task<RolloutStatus?> GetAsync(string service)
    {
        var stored = await store.GetRolloutAsync(service);
        if (stored is null)
        {
            return null;
        }

        var rollout = Parse(stored);
        metrics.Observe(rollout);
        if (rollout.State == RolloutState.Progressing && windows.Find(service, rollout.StepStartedAt.UtcTicks) is { } window)
        {
            var (stable, canary) = window.Read();
            rollout.Window = new RolloutWindowReading { Since = rollout.StepStartedAt, Canary = canary, Stable = stable };
        }

        return rollout;
    }

    /// <summary>
    /// Starts a rollout at its first step; refused while another is under way, or when it does not fit the policy. A
    /// spec that comes with errors of its shape in <paramref name="errors"/> gets its errors against the policy added
    /// and is refused as invalid, whether or not another rollout runs.
    /// </summary>
    public async Task<RolloutOutcome> StartAsync(string service, RolloutSpec spec, ValidationErrors errors)
    {
        await _gate.WaitAsync();
        try
        {
            for (var attempt = 0; attempt < Attempts; attempt++)
            {
                var stored = await store.GetRolloutAsync(service);
                if (!errors.Any && stored is not null && Parse(stored) is { IsFinal: false } running)
                {
                    return new RolloutOutcome(running, RolloutRefusal.Conflict,
                        $"The rollout of '{running.Spec.Canary}' to '{service}' is {running.State} at step {running.Step}; abort it or let it end first.");
                }

                var policy = await ReadPolicyAsync(service);
                if (RolloutSpecValidator.Validate(spec, service, policy.Document, errors) is not var (stableVersion, canaryVersion))
                {
                    return new RolloutOutcome(null, RolloutRefusal.Invalid);
                }

                var now = time.GetUtcNow();
                var rollout = new RolloutStatus
                {
                    Service = service,
                    Spec = spec,
                    StableVersion = stableVersion,
                    CanaryVersion = canaryVersion,
                    State = RolloutState.Progressing,
                    Step = 1,
                    Weight = spec.Steps[0],
                    StartedAt = now,
                    UpdatedAt = now,
                    StepStartedAt = now,
                };
                Decide(rollout, RolloutVerdict.Started, null, null,
                    $"'{spec.Canary}' (version {canaryVersion}) gets {rollout.Weight}% of route '{spec.Route}', '{spec.Stable}' (version {stableVersion}) the rest");
                var written = await store.WriteRolloutAsync(service, Serialize(rollout), stored?.Revision ?? 0, asDriver: false);
                if (written is null)
                {
                    continue;
                }

                windows.Open(service, now.UtcTicks, stableVersion, canaryVersion);
                Count(rollout);
                return new RolloutOutcome(await ApplyWeightsAsync(rollout, written.Revision, asDriver: false));
            }

            throw new RegistryStoreUnavailableException($"the start of a rollout of {service} kept racing other writes to it");
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>An operator's pause, resume, abort or promote.</summary>
    public async Task<RolloutOutcome> CommandAsync(string service, RolloutCommand command)
    {
        await _gate.WaitAsync();
        try
        {
            for (var attempt = 0; attempt < Attempts; attempt++)
            {
                var stored = await store.GetRolloutAsync(service);
                if (stored is null)
                {
                    return new RolloutOutcome(null, RolloutRefusal.NotFound, $"Service '{service}' has no rollout.");
                }

                var rollout = Parse(stored);
                if (Refuse(rollout, command) is { } refusal)
                {
                    return new RolloutOutcome(rollout, RolloutRefusal.Conflict, refusal);
                }

                var now = time.GetUtcNow();
                switch (command)
                {
                    case RolloutCommand.Pause:
                        Decide(rollout, RolloutVerdict.Paused, null, null, "paused by an operator");
                        rollout.State = RolloutState.Paused;
                        break;
                    case RolloutCommand.Resume:
                        Decide(rollout, RolloutVerdict.Resumed, null, null,
                            $"resumed by an operator: step {rollout.Step} sets its weights again and its window starts over");
                        rollout.State = RolloutState.Progressing;
                        RestartStep(rollout, now);
                        break;
                    case RolloutCommand.Abort:
                        Decide(rollout, RolloutVerdict.Aborted, null, null, $"aborted by an operator: route '{rollout.Spec.Route}' goes back to '{rollout.Spec.Stable}' only");
                        End(rollout, RolloutState.Aborted);
                        break;
                    case RolloutCommand.Promote:
                        Decide(rollout, RolloutVerdict.Promoted, null, null,
                            $"promoted by an operator: route '{rollout.Spec.Route}' goes to '{rollout.Spec.Canary}' only");
                        End(rollout, RolloutState.Succeeded);
                        break;
                }

                rollout.UpdatedAt = now;
                var written = await store.WriteRolloutAsync(service, Serialize(rollout), stored.Revision, asDriver: false);
                if (written is null)
                {
                    continue;
                }

                if (rollout.State == RolloutState.Progressing)
                {
                    windows.Open(service, rollout.StepStartedAt.UtcTicks, rollout.StableVersion, rollout.CanaryVersion);
                }
                else
                {
                    windows.Close(service);
                }

                Count(rollout);
                return new RolloutOutcome(await ApplyWeightsAsync(rollout, written.Revision, asDriver: false));
            }

            throw new RegistryStoreUnavailableException($"the {command} of the rollout of {service} kept racing other writes to it");
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Looks at every rollout once: refreshes the gauges and, where this registry drives rollouts, writes weights still
    /// to be written, notices policy writes to a rollout's route, and judges every step whose window is due.
    /// </summary>
    public async Task TickAsync()
    {
        await _gate.WaitAsync();
        try
        {
            foreach (var stored in await store.ListRolloutsAsync())
            {
                var rollout = Parse(stored);
                metrics.Observe(rollout);
                if (!store.DrivesRollouts || rollout.State == RolloutState.Paused)
                {
                    continue;
                }

                try
                {
                    await AdvanceAsync(rollout, stored.Revision);
                }
#pragma warning disable CA1031 // one rollout that cannot move on (its policy unreadable, the store refusing) must not stop the others
                catch (Exception ex) when (ex is not OperationCanceledException)
#pragma warning restore CA1031
                {
                    logger.LogWarning(ex, "The rollout of {Service} could not move on; trying again at the next tick", rollout.Service);
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    private async Task AdvanceAsync(RolloutStatus rollout, long revision)
    {
        if (rollout.PolicyVersion is null)
        {
            await ApplyWeightsAsync(rollout, revision, asDriver: true);
            return;
        }

        if (rollout.IsFinal)
        {
            windows.Close(rollout.Service);
            return;
        }

        var now = time.GetUtcNow();
        var policy = await ReadPolicyAsync(rollout.Service);
        if (policy.Version != rollout.PolicyVersion)
        {
            if (!RolloutPolicyEditor.HasDestinations(policy.Document, rollout.Spec.Route, RolloutPolicyEditor.Target(rollout)) ||
                await RouteEditedAsync(rollout, policy.Document))
            {
                Decide(rollout, RolloutVerdict.Paused, null, null,
                    $"policy version {policy.Version} changed route '{rollout.Spec.Route}' outside the rollout (which had set version {rollout.PolicyVersion}); " +
                    "resume to set the step's weights again, or abort");
                rollout.State = RolloutState.Paused;
                windows.Close(rollout.Service);
            }

            // A write to another part of the policy leaves the route as the rollout set it: carry on from that version.
            rollout.PolicyVersion = policy.Version;
            if (await SaveAsync(rollout, revision, now, asDriver: true) && rollout.State == RolloutState.Paused)
            {
                Count(rollout);
            }

            return;
        }

        var window = windows.Find(rollout.Service, rollout.StepStartedAt.UtcTicks);
        if (window is null)
        {
            // This registry started again, or took the rollouts over from another replica: what that one had counted is
            // gone with its memory, so the step's window starts over from now.
            logger.LogInformation("The rollout of {Service} restarts the window of step {Step}: its traffic so far was counted elsewhere",
                rollout.Service, rollout.Step);
            RestartStep(rollout, now);
            rollout.PolicyVersion = policy.Version;
            if (await SaveAsync(rollout, revision, now, asDriver: true))
            {
                windows.Open(rollout.Service, rollout.StepStartedAt.UtcTicks, rollout.StableVersion, rollout.CanaryVersion);
            }

            return;
        }

        if (now < rollout.StepStartedAt + (rollout.Spec.StepInterval * (rollout.Waits + 1)))
        {
            return;
        }

        var (stable, canary) = window.Read();
        var (verdict, reason) = Judge(rollout, stable, canary);
        if (verdict == RolloutVerdict.Waiting && ++rollout.Waits >= MaxIntervalsPerStep)
        {
            verdict = RolloutVerdict.Failed;
            reason = $"too few requests: {canary.Requests} to the canary in {MaxIntervalsPerStep} intervals, {rollout.Spec.Analysis.MinRequests} needed";
        }

        var before = (rollout.PolicyVersion.Value, RolloutPolicyEditor.Target(rollout));
        Decide(rollout, verdict, canary, stable, reason);
        if (stable.P99Ms is { } stableP99 && stable.Requests > 0)
        {
            rollout.StableP99BaselineMs = stableP99;
        }

        if (verdict == RolloutVerdict.Failed)
        {
            End(rollout, RolloutState.RolledBack);
        }
        else if (verdict == RolloutVerdict.Passed && rollout.Step == rollout.Spec.Steps.Count)
        {
            End(rollout, RolloutState.Succeeded);
        }
        else if (verdict == RolloutVerdict.Passed)
        {
            rollout.Step++;
            rollout.Weight = rollout.Spec.Steps[rollout.Step - 1];
            RestartStep(rollout, now);
        }

        rollout.UpdatedAt = now;
        var written = await store.WriteRolloutAsync(rollout.Service, Serialize(rollout), revision, asDriver: true);
        if (written is null)
        {
            return; // an operator's command came first; the next tick reads it
        }

        Count(rollout);
        if (rollout.IsFinal)
        {
            windows.Close(rollout.Service);
        }
        else if (rollout.StepStartedAt == now)
        {
            windows.Open(rollout.Service, now.UtcTicks, rollout.StableVersion, rollout.CanaryVersion);
        }

        await ApplyWeightsAsync(rollout, written.Revision, asDriver: true, before);
    }

    /// <summary>The step's verdict on its window: waiting for requests, failed with every bound it broke, or passed.</summary>
    private static (RolloutVerdict Verdict, string Reason) Judge(RolloutStatus rollout, RolloutTraffic stable, RolloutTraffic canary)
    {
        var bounds = rollout.Spec.Analysis;
        if (canary.Requests < bounds.MinRequests)
        {
            return (RolloutVerdict.Waiting, string.Create(CultureInfo.InvariantCulture,
                $"{canary.Requests} requests to the canary, {bounds.MinRequests} needed: the window goes on ({rollout.Waits + 1} of {MaxIntervalsPerStep} intervals)"));
        }

        var broken = new List<string>();
        var held = new List<string>();
        var success = canary.SuccessRate ?? 0;
        (success < bounds.MinSuccessRate ? broken : held).Add(Invariant($"success rate {success}% (bound {bounds.MinSuccessRate}%)"));
        // A latency bound asked for is never passed unjudged: a canary whose callers sent no p99 fails it.
        if (bounds.MaxP99Ms is { } maxP99)
        {
            if (canary.P99Ms is { } p99)
            {
                (p99 > maxP99 ? broken : held).Add(Invariant($"p99 {p99} ms (bound {maxP99} ms)"));
            }
            else
            {
                broken.Add(Invariant($"p99 not reported by the canary's callers (bound {maxP99} ms)"));
            }
        }

        if (bounds.MaxP99Ratio is { } ratioBound && canary.P99Ms is null)
        {
            broken.Add(Invariant($"p99 ratio not judged: the canary's callers reported no p99 (bound {ratioBound}x)"));
        }
        else if (bounds.MaxP99Ratio is { } maxRatio && canary.P99Ms is { } canaryP99)
        {
            var stableP99 = stable.Requests > 0 && stable.P99Ms is { } s ? s : rollout.StableP99BaselineMs;
            if (stableP99 is { } baseline && baseline > 0)
            {
                var ratio = Math.Round(canaryP99 / baseline, 3);
                (ratio > maxRatio ? broken : held).Add(Invariant($"p99 {ratio}x the stable's {baseline} ms (bound {maxRatio}x)"));
            }
            else
            {
                held.Add("p99 ratio not judged: no stable p99 yet");
            }
        }

        return broken.Count > 0
            ? (RolloutVerdict.Failed, string.Join("; ", broken))
            : (RolloutVerdict.Passed, string.Join("; ", held) + (rollout.Step == rollout.Spec.Steps.Count ? "; last step: promoted" : string.Empty));
    }

    /// <summary>
    /// Sets the route's weights for the rollout's state as a new policy version, unless it has them already, and
    /// stores the version. A route that is gone, or weights that no longer validate, pause the rollout instead.
    /// </summary>
    /// <param name="rollout">The rollout as just stored, its weights still to be written.</param>
    /// <param name="revision">Its revision in the store.</param>
    /// <param name="asDriver">Whether the engine's tick writes it (fenced on driving rollouts), not an operator's command.</param>
    /// <param name="judged">
    /// The policy version and destinations the step was judged on: when the policy moved on since and the route no
    /// longer has them, someone wrote the route meanwhile, and a step forward pauses rather than overwrite that write.
    /// </param>
    private async Task<RolloutStatus> ApplyWeightsAsync(RolloutStatus rollout, long revision, bool asDriver,
        (long Version, List<(string Subset, int Weight)> Destinations)? judged = null)
    {
        if (rollout.PolicyVersion is not null)
        {
            return rollout;
        }

        var target = RolloutPolicyEditor.Target(rollout);
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            var policy = await ReadPolicyAsync(rollout.Service);
            string? problem = null;
            var version = policy.Version;
            if (!rollout.IsFinal && judged is { } seen && policy.Version != seen.Version &&
                !RolloutPolicyEditor.HasDestinations(policy.Document, rollout.Spec.Route, seen.Destinations))
            {
                problem = $"policy version {policy.Version} changed route '{rollout.Spec.Route}' outside the rollout (which had set version {seen.Version}); " +
                    "resume to set the step's weights again, or abort";
            }
            else if (!RolloutPolicyEditor.HasDestinations(policy.Document, rollout.Spec.Route, target))
            {
                var next = policy.Document is null ? null : RolloutPolicyEditor.WithDestinations(policy.Document, rollout.Spec.Route, target);
                var invalid = next is null ? null : PolicyDocument.Validate(Encoding.UTF8.GetBytes(next), logger);
                if (next is null)
                {
                    problem = $"route '{rollout.Spec.Route}' is no longer in the policy of '{rollout.Service}'";
                }
                else if (invalid is { Count: > 0 })
                {
                    problem = "the policy with the rollout's weights does not validate: " + string.Join("; ", invalid);
                }
                else
                {
                    var write = await store.WritePolicyAsync(rollout.Service, new PolicyChange(next, ExpectedVersion: policy.Version));
                    if (write.Outcome == PolicyOutcome.VersionMismatch)
                    {
                        continue;
                    }

                    version = write.Policy.Version;
                }
            }

            if (problem is not null)
            {
                logger.LogWarning("The rollout of {Service} cannot set its weights: {Problem}", rollout.Service, problem);
                if (!rollout.IsFinal)
                {
                    Decide(rollout, RolloutVerdict.Paused, null, null, problem);
                    rollout.State = RolloutState.Paused;
                    windows.Close(rollout.Service);
                    Count(rollout);
                }
            }

            rollout.PolicyVersion = version;
            if (await SaveAsync(rollout, revision, time.GetUtcNow(), asDriver))
            {
                return rollout;
            }

            var stored = await store.GetRolloutAsync(rollout.Service);
            return stored is null ? rollout : Parse(stored);
        }

        return rollout; // other writers kept winning; the next tick tries again
    }

    /// <summary>
    /// Whether a policy write since the version the rollout set changed its route's other fields (match, timeout,
    /// retry) or either subset's selector: a write to the route as much as one to its weights. Judged against that
    /// version from the policy's history; when the history no longer has it, only the weights tell.
    /// </summary>
    private async Task<bool> RouteEditedAsync(RolloutStatus rollout, string? current)
    {
        foreach (var version in await store.GetPolicyHistoryAsync(rollout.Service, HistoryLooked))
        {
            if (version.Version == rollout.PolicyVersion)
            {
                return !RolloutPolicyEditor.SameRouteAndSubsets(version.Document, current, rollout.Spec);
            }
        }

        return false;
    }

    private async Task<bool> SaveAsync(RolloutStatus rollout, long revision, DateTimeOffset now, bool asDriver)
    {
        rollout.UpdatedAt = now;
        var written = await store.WriteRolloutAsync(rollout.Service, Serialize(rollout), revision, asDriver);
        metrics.Observe(rollout);
        return written is not null;
    }

    private async Task<(long Version, string? Document)> ReadPolicyAsync(string service)
    {
        var policy = await store.WatchPolicyAsync(service, null, TimeSpan.Zero, WatchCaller.Unlimited, CancellationToken.None);
        return (policy.Version, policy.Document is { ValueKind: JsonValueKind.Object } document ? document.GetRawText() : null);
    }

    private static string? Refuse(RolloutStatus rollout, RolloutCommand command) => command switch
    {
        RolloutCommand.Pause when rollout.State != RolloutState.Progressing => $"The rollout is {rollout.State}; only a progressing rollout can be paused.",
        RolloutCommand.Resume when rollout.State != RolloutState.Paused => $"The rollout is {rollout.State}; only a paused rollout can be resumed.",
        RolloutCommand.Abort or RolloutCommand.Promote when rollout.IsFinal => $"The rollout is {rollout.State} already.",
        _ => null,
    };

    private static void RestartStep(RolloutStatus rollout, DateTimeOffset now)
    {
        rollout.StepStartedAt = now;
        rollout.Waits = 0;
        rollout.PolicyVersion = null;
    }

    private static void End(RolloutStatus rollout, RolloutState state)
    {
        rollout.State = state;
        rollout.Weight = state == RolloutState.Succeeded ? 100 : 0;
        rollout.PolicyVersion = null;
    }

    private void Decide(RolloutStatus rollout, RolloutVerdict verdict, RolloutTraffic? canary, RolloutTraffic? stable, string reason)
    {
        rollout.Add(new RolloutDecision
        {
            At = time.GetUtcNow(),
            Step = rollout.Step,
            Weight = rollout.Weight,
            Canary = canary,
            Stable = stable,
            Verdict = verdict,
            Reason = reason,
        });
        logger.LogInformation("Rollout of {Service} step {Step} ({Weight}%): {Verdict}: {Reason}", rollout.Service, rollout.Step, rollout.Weight, verdict, reason);
    }

    /// <summary>Counts the decision just stored (the last in the log) and refreshes the gauges.</summary>
    private void Count(RolloutStatus rollout)
    {
        metrics.Observe(rollout);
        if (rollout.Decisions.Count > 0)
        {
            metrics.Decided(rollout.Service, rollout.Decisions[^1].Verdict);
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Serialize(RolloutStatus rollout) => JsonSerializer.Serialize(rollout, RolloutJsonContext.Default.RolloutStatus);

    private static RolloutStatus Parse(StoredRollout stored) =>
        JsonSerializer.Deserialize(stored.Document, RolloutJsonContext.Default.RolloutStatus) ??
        throw new InvalidDataException($"an empty rollout of {stored.Service} in the store");
}
