using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Registry.Ca;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Testing;

namespace Mesh.Registry.Tests;

/// <summary>
/// Registry replicas that share one <c>MeshRegistry:CaPath</c> (each with its own store here, which the CA does not
/// use) share one CA: one root made between them, and a rotation through any replica followed by the others.
/// </summary>
public sealed class SharedCertificateAuthorityTests : IDisposable
{
    private readonly string _caPath = Path.Combine(Path.GetTempPath(), "mesh-registry-tests", "shared-ca-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => RegistryHost.DeleteDirectory(_caPath);

    [Fact]
    public async Task ReplicasStartedTogetherOnAnEmptyFolderMakeOneCa()
    {
        // Started on pool threads, as separate processes would be: the CA is made while each host starts.
        var starts = Enumerable.Range(0, 3).Select(_ => Task.Run(() => RegistryHost.StartAsync(configure: Shared()))).ToArray();
        var hosts = await StartAllAsync(starts);
        try
        {
            var roots = new List<string>();
            foreach (var host in hosts)
            {
                var listed = (await host.Admin.GetJsonAsync("/v1/ca/roots")).GetProperty("roots");
                listed.GetArrayLength().ShouldBe(1);
                roots.Add(listed[0].GetProperty("fingerprint").GetString()!);
                host.Console.ToString().ShouldContain(roots[^1]);
            }

            roots.Distinct().Count().ShouldBe(1, string.Join(", ", roots));
            System.IO.Directory.GetFiles(_caPath, "*.key.pem").Length.ShouldBe(1);
            System.IO.Directory.GetFiles(_caPath, "*.tmp").ShouldBeEmpty();

            // A certificate one replica issues verifies against another's trust bundle.
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            using var issued = await IssueAsync(hosts[0], key);
            RegistryHost.ChainsTo(issued, await TrustBundleAsync(hosts[2]), DateTimeOffset.UtcNow).ShouldBeTrue();
            RegistryHost.ChainsTo(issued, Ca(hosts[1]).TrustedRoots().Roots, DateTimeOffset.UtcNow).ShouldBeTrue();
        }
        finally
        {
            foreach (var host in hosts)
            {
                await host.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task RegistryProcessesShareOneCaAndFollowARotationAnyOfThemMakes()
    {
        // Separate processes, all waiting on the folder's lock (held here) when it is let go: only the file lock keeps
        // them from making a root each.
        System.IO.Directory.CreateDirectory(_caPath);
        var replicas = new RegistryProcess[3];
        using (var held = HoldLock())
        {
            for (var i = 0; i < replicas.Length; i++)
            {
                replicas[i] = RegistryProcess.Launch(new Dictionary<string, string>
                {
                    ["MeshRegistry__DataPath"] = Path.Combine(_caPath + "-data", $"replica-{i}", "registry.db"),
                    ["MeshRegistry__CaPath"] = _caPath,
                    ["MeshRegistry__AdminToken"] = RegistryHost.AdminToken,
                    ["MeshRegistry__JoinTokens__reviews"] = RegistryHost.ReviewsToken,
                    ["MeshRegistry__JoinTokens__ratings"] = RegistryHost.RatingsToken,
                });
            }

            try
            {
                await Poll.UntilAsync(() => replicas.All(r => r.Output.Contains("is held by another replica", StringComparison.Ordinal)),
                    TimeSpan.FromSeconds(60), "every replica waits for the lock");
            }
            catch
            {
                await DisposeAllAsync(replicas);
                throw;
            }
        }

        try
        {
            await Task.WhenAll(replicas.Select(r => r.WaitUntilReadyAsync()));
        }
        catch
        {
            await DisposeAllAsync(replicas);
            throw;
        }

        var admins = replicas.Select(r => r.Client(RegistryHost.AdminToken)).ToArray();
        try
        {
            replicas.Select(r => r.Fingerprint).Distinct().ShouldHaveSingleItem().ShouldNotBeNull(string.Join("\n", replicas.Select(r => r.Output)));
            System.IO.Directory.GetFiles(_caPath, "*.key.pem").Length.ShouldBe(1);
            var oldId = (await admins[2].GetJsonAsync("/v1/ca/roots")).GetProperty("roots")[0].GetProperty("id").GetString()!;

            // Added through one, activated through another (which reads the folder under its lock before it changes it).
            using var added = await admins[0].PostAsync(new Uri("/v1/ca/roots", UriKind.Relative), null);
            added.StatusCode.ShouldBe(HttpStatusCode.Created);
            var newId = (await added.ReadJsonAsync()).GetProperty("id").GetString()!;
            using (var activate = await admins[1].PostAsync(new Uri($"/v1/ca/roots/{newId}/activate", UriKind.Relative), null))
            {
                activate.StatusCode.ShouldBe(HttpStatusCode.OK, await activate.Content.ReadAsStringAsync());
            }

            var expected = (await admins[1].GetJsonAsync("/v1/ca/roots")).GetRawText();
            await Poll.UntilAsync(async () => (await admins[2].GetJsonAsync("/v1/ca/roots")).GetRawText() == expected
                && (await admins[0].GetJsonAsync("/v1/ca/roots")).GetRawText() == expected, TimeSpan.FromSeconds(30), "every replica lists the rotated roots");

            // The third signs with the new root; the certificate chains to the first's trust bundle.
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            using var reviews = replicas[2].Client(RegistryHost.ReviewsToken);
            var answer = await CertificateAuthorityTests.SignAsync(reviews, CertificateAuthorityTests.Csr(key, null));
            answer.StatusCode.ShouldBe(HttpStatusCode.OK, answer.Body);
            using var issued = X509Certificate2.CreateFromPem(answer.Json.GetProperty("certificate").GetString()!);
            issued.Issuer.ShouldContain(newId);
            using var ratings = replicas[0].Client(RegistryHost.RatingsToken);
            var bundle = new X509Certificate2Collection();
            foreach (var root in (await ratings.GetJsonAsync("/v1/trust-bundle")).GetProperty("roots").EnumerateArray())
            {
                bundle.Add(X509Certificate2.CreateFromPem(root.GetString()!));
            }

            RegistryHost.ChainsTo(issued, bundle, DateTimeOffset.UtcNow).ShouldBeTrue();

            // The old root is removed through the third; the first drops it.
            using (var remove = await admins[2].DeleteAsync(new Uri($"/v1/ca/roots/{oldId}", UriKind.Relative)))
            {
                remove.StatusCode.ShouldBe(HttpStatusCode.OK);
            }

            await Poll.UntilAsync(async () => (await admins[0].GetJsonAsync("/v1/ca/roots")).GetProperty("roots").GetArrayLength() == 1,
                TimeSpan.FromSeconds(30), "the first replica drops the removed root");
        }
        finally
        {
            foreach (var admin in admins)
            {
                admin.Dispose();
            }

            await DisposeAllAsync(replicas);
        }
    }

    [Fact]
    public async Task RotationThroughOneReplicaReachesTheOtherThroughTheFolderWatcher()
    {
        // The clock never moves: the periodic re-read never runs, so whatever B learns, its watcher told it.
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var a = await RegistryHost.StartAsync(time, Shared());
        await using var b = await RegistryHost.StartAsync(time, Shared());
        var oldId = Ca(a).ActiveRootId;
        Ca(b).ActiveRootId.ShouldBe(oldId);
        Ca(b).WatchesFolder.ShouldBeTrue();
        var bundleIndex = (await b.Client(RegistryHost.RatingsToken).GetJsonAsync("/v1/trust-bundle")).GetProperty("index").GetInt64();
        var watch = b.Client(RegistryHost.RatingsToken).GetJsonAsync($"/v1/trust-bundle?index={bundleIndex}&wait=30s");

        // Add a root through A: B's trust bundle watch wakes with it.
        var newId = await AddRootAsync(a);
        var changed = await watch;
        changed.GetProperty("index").GetInt64().ShouldBeGreaterThan(bundleIndex);
        changed.GetProperty("roots").EnumerateArray().Select(r => r.GetString()).ShouldBe(
            (await a.Client(RegistryHost.RatingsToken).GetJsonAsync("/v1/trust-bundle")).GetProperty("roots").EnumerateArray().Select(r => r.GetString()));

        // Activate it through A: B signs with it too, its own server certificate follows, and both list the same roots.
        using (var activate = await a.Admin.PostAsync(new Uri($"/v1/ca/roots/{newId}/activate", UriKind.Relative), null))
        {
            activate.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        await Poll.UntilAsync(() => Ca(b).ActiveRootId == newId, because: "B follows A's activation");
        await ShouldListTheSameRootsAsync(a, b);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var fromB = await IssueAsync(b, key);
        fromB.Issuer.ShouldContain(newId);
        using var current = ActiveRoot(a);
        RegistryHost.ChainsTo(fromB, [current], time.GetUtcNow()).ShouldBeTrue();
        var serverCertificate = b.App.Services.GetRequiredService<RegistryServerCertificate>().Certificate;
        serverCertificate.Issuer.ShouldContain(newId);
        RegistryHost.ChainsTo(serverCertificate, [current], time.GetUtcNow()).ShouldBeTrue();

        // The rotation ends through B: A follows, and the old root's key is gone from the folder.
        using (var remove = await b.Admin.DeleteAsync(new Uri($"/v1/ca/roots/{oldId}", UriKind.Relative)))
        {
            remove.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        await Poll.UntilAsync(() => Ca(a).ListRoots().Roots.Count == 1, because: "A follows B's removal");
        await ShouldListTheSameRootsAsync(a, b);
        File.Exists(Ca(a).KeyPath(oldId)).ShouldBeFalse();
        if (!OperatingSystem.IsWindows())
        {
            File.GetUnixFileMode(Ca(a).KeyPath(newId)).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    [Fact]
    public async Task RotationReachesAReplicaWhoseWatcherSeesNothingAtTheReloadInterval()
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var a = await RegistryHost.StartAsync(time, Shared(s => s["MeshRegistry:CaReloadInterval"] = "00:00:10"));
        await using var b = await RegistryHost.StartAsync(time, Shared(s => s["MeshRegistry:CaReloadInterval"] = "00:00:10"));
        Ca(b).WatchesFolder = false;

        var newId = await AddRootAsync(a);
        using (var activate = await a.Admin.PostAsync(new Uri($"/v1/ca/roots/{newId}/activate", UriKind.Relative), null))
        {
            activate.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        // Nothing told B yet: it still signs with the old root.
        Ca(b).ListRoots().Roots.Count.ShouldBe(1);
        Ca(b).ActiveRootId.ShouldNotBe(newId);

        time.Advance(TimeSpan.FromSeconds(10));
        await Poll.UntilAsync(() => Ca(b).ActiveRootId == newId, because: "B re-reads the folder at its reload interval");
        await ShouldListTheSameRootsAsync(a, b);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var fromB = await IssueAsync(b, key);
        using var current = ActiveRoot(a);
        RegistryHost.ChainsTo(fromB, [current], time.GetUtcNow()).ShouldBeTrue();
    }

    [Fact]
    public async Task AReplicaThatCannotReadTheFolderKeepsServingAndReadsItAgainLater()
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var a = await RegistryHost.StartAsync(time, Shared());
        await using var b = await RegistryHost.StartAsync(time, Shared());
        Ca(b).WatchesFolder = false;
        var statePath = Path.Combine(_caPath, CaFolder.StateFile);
        var state = await File.ReadAllTextAsync(statePath);
        var before = Ca(b).ListRoots();

        // A state file broken by hand: B says so and keeps the CA it has.
        await File.WriteAllTextAsync(statePath, "{ not json");
        var reloads = Ca(b).Reloads;
        time.Advance(TimeSpan.FromSeconds(5));
        await Poll.UntilAsync(() => Ca(b).Reloads > reloads, because: "B re-reads at its interval");
        b.Logs.GetSnapshot().ShouldContain(e => e.Level == Microsoft.Extensions.Logging.LogLevel.Warning
            && e.Message.Contains("could not re-read", StringComparison.Ordinal) && e.Message.Contains(statePath, StringComparison.Ordinal));
        Ca(b).ListRoots().Roots.Select(r => r.Id).ShouldBe(before.Roots.Select(r => r.Id));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using (var issued = await IssueAsync(b, key))
        {
            issued.Issuer.ShouldContain(before.Roots[0].Id);
        }

        // Mended, the folder is followed again: a root A adds reaches B at its next interval.
        await File.WriteAllTextAsync(statePath, state);
        var newId = await AddRootAsync(a);
        time.Advance(TimeSpan.FromSeconds(5));
        await Poll.UntilAsync(() => Ca(b).ListRoots().Roots.Any(r => r.Id == newId), because: "B follows the mended folder");
        await ShouldListTheSameRootsAsync(a, b);
    }

    [Fact]
    public async Task CreationWaitsForTheFolderLockAndThenMakesTheCa()
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var logs = new FakeLogCollector();
        System.IO.Directory.CreateDirectory(_caPath);
        var held = HoldLock();
        Task<RegistryHost> start;
        try
        {
            start = Task.Run(() => RegistryHost.StartAsync(time, Shared(), logs: logs));
            await Poll.UntilAsync(() => Waited(logs) || start.IsCompleted, because: "the start waits for the lock");
            start.IsCompleted.ShouldBeFalse();
            File.Exists(Path.Combine(_caPath, CaFolder.StateFile)).ShouldBeFalse();
        }
        finally
        {
            held.Dispose();
        }

        await AdvanceUntilAsync(time, start);
        await using var host = await start;
        File.Exists(Path.Combine(_caPath, CaFolder.StateFile)).ShouldBeTrue();
        System.IO.Directory.GetFiles(_caPath, "*.key.pem").Length.ShouldBe(1);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var issued = await IssueAsync(host, key);
        RegistryHost.ChainsTo(issued, await TrustBundleAsync(host), time.GetUtcNow()).ShouldBeTrue();
    }

    [Fact]
    public async Task CreationGivesUpWithAClearErrorWhenTheLockIsNotReleased()
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var logs = new FakeLogCollector();
        System.IO.Directory.CreateDirectory(_caPath);
        using var held = HoldLock();
        var start = Task.Run(() => RegistryHost.StartAsync(time, Shared(s => s["MeshRegistry:CaLockTimeout"] = "00:00:02"), logs: logs));
        await Poll.UntilAsync(() => Waited(logs) || start.IsCompleted, because: "the start waits for the lock");

        await AdvanceUntilAsync(time, start);
        var error = await Should.ThrowAsync<TimeoutException>(start);
        error.Message.ShouldContain(Path.Combine(_caPath, CaFolder.LockFile));
        error.Message.ShouldContain("00:00:02");
        error.Message.ShouldContain("MeshRegistry:CaLockTimeout");
        File.Exists(Path.Combine(_caPath, CaFolder.StateFile)).ShouldBeFalse();
    }

    [Fact]
    public async Task ReloadIntervalAndLockTimeoutAreValidated()
    {
        var errors = await RegistryHost.StartupErrorsAsync(new Dictionary<string, string?>
        {
            ["MeshRegistry:CaReloadInterval"] = "00:00:00.5",
            ["MeshRegistry:CaLockTimeout"] = "00:20:00",
        });
        errors.ShouldContain("MeshRegistry:CaReloadInterval: 00:00:00.5000000 must be between 00:00:01 and 01:00:00");
        errors.ShouldContain("MeshRegistry:CaLockTimeout: 00:20:00 must be between 00:00:01 and 00:10:00");
    }

    private async Task DisposeAllAsync(RegistryProcess[] replicas)
    {
        foreach (var replica in replicas)
        {
            await replica.DisposeAsync();
        }

        RegistryHost.DeleteDirectory(_caPath + "-data");
    }

    private Action<Dictionary<string, string?>> Shared(Action<Dictionary<string, string?>>? more = null) => settings =>
    {
        settings["MeshRegistry:CaPath"] = _caPath;
        more?.Invoke(settings);
    };

    /// <summary>The folder's lock as another replica would hold it.</summary>
    private FileStream HoldLock() =>
        new(Path.Combine(_caPath, CaFolder.LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);

    private static bool Waited(FakeLogCollector logs) =>
        logs.GetSnapshot().Any(e => e.Message.Contains("is held by another replica", StringComparison.Ordinal));

    /// <summary>Moves the clock in the lock's retry steps until the start is over (the waiter's timers fire as it passes them).</summary>
    private static async Task AdvanceUntilAsync(ManualTimeProvider time, Task start) =>
        await Poll.UntilAsync(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(50));
            return start.IsCompleted;
        }, because: "the start ends once the clock passes the lock's next try");

    private static async Task<RegistryHost[]> StartAllAsync(Task<RegistryHost>[] starts)
    {
        try
        {
            return await Task.WhenAll(starts);
        }
        catch
        {
            foreach (var start in starts.Where(s => s.IsCompletedSuccessfully))
            {
                await (await start).DisposeAsync();
            }

            throw;
        }
    }

    private static CertificateAuthority Ca(RegistryHost host) => host.App.Services.GetRequiredService<CertificateAuthority>();

    private static X509Certificate2 ActiveRoot(RegistryHost host)
    {
        var active = Ca(host).ListRoots().Roots.Single(r => r.Active);
        return X509Certificate2.CreateFromPem(active.Certificate);
    }

    private static async Task<string> AddRootAsync(RegistryHost host)
    {
        using var added = await host.Admin.PostAsync(new Uri("/v1/ca/roots", UriKind.Relative), null);
        added.StatusCode.ShouldBe(HttpStatusCode.Created);
        return (await added.ReadJsonAsync()).GetProperty("id").GetString()!;
    }

    private static async Task ShouldListTheSameRootsAsync(RegistryHost a, RegistryHost b)
    {
        var fromA = (await a.Admin.GetJsonAsync("/v1/ca/roots")).GetRawText();
        (await b.Admin.GetJsonAsync("/v1/ca/roots")).GetRawText().ShouldBe(fromA);
        var bundleA = (await a.Client(RegistryHost.RatingsToken).GetJsonAsync("/v1/trust-bundle")).GetRawText();
        (await b.Client(RegistryHost.RatingsToken).GetJsonAsync("/v1/trust-bundle")).GetRawText().ShouldBe(bundleA);
    }

    private static async Task<X509Certificate2Collection> TrustBundleAsync(RegistryHost host)
    {
        var bundle = await host.Client(RegistryHost.RatingsToken).GetJsonAsync("/v1/trust-bundle");
        var roots = new X509Certificate2Collection();
        foreach (var root in bundle.GetProperty("roots").EnumerateArray())
        {
            roots.Add(X509Certificate2.CreateFromPem(root.GetString()!));
        }

        return roots;
    }

    private static async Task<X509Certificate2> IssueAsync(RegistryHost host, ECDsa key)
    {
        var answer = await CertificateAuthorityTests.SignAsync(host.Client(RegistryHost.ReviewsToken), CertificateAuthorityTests.Csr(key, null));
        answer.StatusCode.ShouldBe(HttpStatusCode.OK, answer.Body);
        return X509Certificate2.CreateFromPem(answer.Json.GetProperty("certificate").GetString()!);
    }
}
