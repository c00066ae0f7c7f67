using System.Net;
using System.Security.Cryptography;
using Mesh.Registry.Cli;
using Mesh.Testing;
using Xunit.Abstractions;

namespace Mesh.Registry.Tests;

/// <summary>
/// The SQLite store's backup and restore as the docs give them: <c>mesh-registry backup --data-path &lt;db&gt; --to
/// &lt;file&gt;</c> run as its own process against a registry process that is writing, then restore = stop the registry, put
/// the backup at <c>DataPath</c>, remove the stale <c>-wal</c> and <c>-shm</c> files, start.
/// </summary>
public sealed class SqliteBackupTests(ITestOutputHelper output) : IDisposable
{
    private const int MaxWritesPerWriter = 20_000;
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(2);

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "mesh-registry-tests", Guid.NewGuid().ToString("N"));

    public void Dispose() => RegistryHost.DeleteDirectory(_directory);

    private string DataPath => Path.Combine(_directory, "data", "registry.db");

    private string BackupPath => Path.Combine(_directory, "registry-backup.db");

    private Dictionary<string, string> Environment() => new()
    {
        ["MeshRegistry__Store"] = "Sqlite",
        ["MeshRegistry__DataPath"] = DataPath,
        ["MeshRegistry__AdminToken"] = RegistryHost.AdminToken,
    };

    [Fact]
    public async Task Sqlite_backup_taken_while_writing_restores_every_write_acknowledged_before_it()
    {
        Directory.CreateDirectory(_directory);
        string joinToken;
        string roots;
        int registrationsAcknowledgedBefore, policiesAcknowledgedBefore, registrationsSentBeforeEnd, policiesSentBeforeEnd;
        await using (var registry = await RegistryProcess.StartAsync(Environment()))
        {
            using var admin = registry.Client(RegistryHost.AdminToken);
            joinToken = (await JoinTokenTests.CreateAsync(admin, """{ "service": "reviews", "uses": 3, "ttl": "1.00:00:00" }""")).GetProperty("token").GetString()!;
            using (var workload = registry.Client(joinToken))
            {
                await SignAsync(workload);
            }

            roots = (await admin.GetJsonAsync("/v1/ca/roots")).GetRawText();

            // Two writers, each one write at a time, so "acknowledged" is a prefix: registrations w-0, w-1, ... and policy
            // versions 1, 2, ... of 'ratings'. Each counts what it sent and what was acknowledged.
            using var stop = new CancellationTokenSource();
            var registrations = new WriteCounter();
            var policies = new WriteCounter();
            var registering = Task.Run(() => WriteUntilStoppedAsync(registry, registrations, async (client, n) =>
            {
                using var response = await client.RegisterAsync("reviews", $"w-{n}", $"http://127.0.0.1:{10000 + (n % 50000)}", ttl: 3600);
                response.EnsureSuccessStatusCode();
            }, stop.Token));
            var applying = Task.Run(() => WriteUntilStoppedAsync(registry, policies, async (client, n) =>
            {
                // Alternating documents: every write is a new version.
                var policy = n % 2 == 0 ? """{ "LoadBalancer": { "Policy": "RoundRobin" } }""" : """{ "LoadBalancer": { "Policy": "Random" } }""";
                using var response = await client.PutAsync(new Uri("/v1/policies/ratings", UriKind.Relative), Api.Json(policy));
                response.EnsureSuccessStatusCode();
            }, stop.Token));

            await Poll.UntilAsync(() => (registrations.Acknowledged >= 50 && policies.Acknowledged >= 50) || registering.IsFaulted || applying.IsFaulted,
                TimeSpan.FromSeconds(60), "both writers are under way");
            registering.IsFaulted.ShouldBeFalse();
            applying.IsFaulted.ShouldBeFalse();

            registrationsAcknowledgedBefore = registrations.Acknowledged;
            policiesAcknowledgedBefore = policies.Acknowledged;
            var backup = await RegistryProcess.RunCommandAsync(["backup", "--data-path", DataPath, "--to", BackupPath], CommandTimeout);
            registrationsSentBeforeEnd = registrations.Sent;
            policiesSentBeforeEnd = policies.Sent;
            backup.ExitCode.ShouldBe(BackupCli.Ok, backup.Error);
            backup.Output.ShouldContain($"backed up {DataPath} to {BackupPath}");

            // Writes go on after the backup: the restore must not have them.
            await Poll.UntilAsync(() => registrations.Acknowledged > registrationsSentBeforeEnd + 10 && policies.Acknowledged > policiesSentBeforeEnd + 10,
                TimeSpan.FromSeconds(60), "writes after the backup");
            await stop.CancelAsync();
            await Task.WhenAll(registering, applying);

            // The backup verb never replaces a file unless told.
            var again = await RegistryProcess.RunCommandAsync(["backup", "--data-path", DataPath, "--to", BackupPath], CommandTimeout);
            again.ExitCode.ShouldBe(BackupCli.Refused);
            again.Error.ShouldContain("--force");

            // Restore: stop the registry, put the backup at DataPath, remove the stale WAL and shared-memory files, start.
            registry.Kill();
        }

        File.Exists(DataPath + "-wal").ShouldBeTrue("the killed registry left its write-ahead log, which the restore must remove");
        File.Copy(BackupPath, DataPath, overwrite: true);
        File.Delete(DataPath + "-wal");
        File.Delete(DataPath + "-shm");

        await using var restored = await RegistryProcess.StartAsync(Environment());
        using var check = restored.Client(RegistryHost.AdminToken);

        // Registrations: a prefix w-0 .. w-(m-1) that holds everything acknowledged before the backup started and
        // nothing sent after it ended.
        var ids = await check.InstanceIdsAsync("reviews");
        var restoredRegistrations = ids.Count;
        restoredRegistrations.ShouldBeGreaterThanOrEqualTo(registrationsAcknowledgedBefore);
        restoredRegistrations.ShouldBeLessThanOrEqualTo(registrationsSentBeforeEnd);
        output.WriteLine($"registrations: {registrationsAcknowledgedBefore} acknowledged before the backup, {registrationsSentBeforeEnd} sent before it ended, {restoredRegistrations} restored");
        ids.Order(StringComparer.Ordinal).ShouldBe(Enumerable.Range(0, restoredRegistrations).Select(n => $"w-{n}").Order(StringComparer.Ordinal));

        // Policy versions likewise: versions 1 .. v, with v between the same bounds, the current one the v-th document.
        var history = (await check.GetJsonAsync($"/v1/policies/ratings/history?limit={RegistryDefaults.MaxHistory}")).GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("version").GetInt64()).ToList();
        var current = (await check.GetJsonAsync("/v1/policies/ratings")).GetProperty("version").GetInt64();
        output.WriteLine($"policy versions: {policiesAcknowledgedBefore} acknowledged before the backup, {policiesSentBeforeEnd} sent before it ended, {current} restored");
        current.ShouldBeGreaterThanOrEqualTo(policiesAcknowledgedBefore);
        current.ShouldBeLessThanOrEqualTo(policiesSentBeforeEnd);
        history.ShouldBe(Enumerable.Range(1, (int)current).Select(v => (long)v).Reverse());
        var document = (await check.GetJsonAsync("/v1/policies/ratings")).GetProperty("document").GetRawText();
        document.ShouldContain(current % 2 == 1 ? "RoundRobin" : "Random");

        // The index carries on from the restored one.
        var index = (await check.GetJsonAsync("/v1/services")).Index();
        index.ShouldBeGreaterThanOrEqualTo(restoredRegistrations + current);
        using (var next = await check.RegisterAsync("reviews", "after-restore", "http://127.0.0.1:9999", ttl: 3600))
        {
            next.StatusCode.ShouldBe(HttpStatusCode.Created, await next.Content.ReadAsStringAsync());
            next.MeshIndex().ShouldBeGreaterThan(index);
        }

        // The join token made through the API is there with its use, and works; the CA (files next to DataPath) is the same.
        var token = (await check.GetJsonAsync("/v1/join-tokens")).GetProperty("tokens").EnumerateArray().Single();
        token.GetProperty("used").GetInt32().ShouldBe(1);
        using (var workload = restored.Client(joinToken))
        {
            await SignAsync(workload);
        }

        (await check.GetJsonAsync("/v1/join-tokens")).GetProperty("tokens")[0].GetProperty("used").GetInt32().ShouldBe(2);
        (await check.GetJsonAsync("/v1/ca/roots")).GetRawText().ShouldBe(roots);
    }

    [Fact]
    public async Task Sqlite_backup_refuses_what_it_cannot_do_with_a_clear_error_and_exit_code()
    {
        Directory.CreateDirectory(_directory);
        // No database at the data path.
        var missing = await RunAsync("backup", "--data-path", Path.Combine(_directory, "none.db"), "--to", BackupPath);
        missing.Code.ShouldBe(BackupCli.Usage);
        missing.Error.ShouldContain("does not exist");
        File.Exists(BackupPath).ShouldBeFalse();

        // A file that is not a registry database.
        var other = Path.Combine(_directory, "other.db");
        await File.WriteAllTextAsync(other, "not a database");
        var notSqlite = await RunAsync("backup", "--data-path", other, "--to", BackupPath);
        notSqlite.Code.ShouldBe(BackupCli.Failed);
        notSqlite.Error.ShouldContain("failed");
        File.Exists(BackupPath).ShouldBeFalse();
        Directory.GetFiles(_directory, "*.partial*").ShouldBeEmpty();

        // A registry's file, backed up; then refused over the existing backup, and replaced with --force.
        await using (var registry = await RegistryProcess.StartAsync(Environment()))
        {
            using var admin = registry.Client(RegistryHost.AdminToken);
            (await admin.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001", ttl: 3600)).EnsureSuccessStatusCode();
        }

        (await RunAsync("backup", "--data-path", DataPath, "--to", BackupPath)).Code.ShouldBe(BackupCli.Ok);
        var first = await File.ReadAllBytesAsync(BackupPath);
        var refused = await RunAsync("backup", "--data-path", DataPath, "--to", BackupPath);
        refused.Code.ShouldBe(BackupCli.Refused);
        refused.Error.ShouldContain($"{BackupPath} exists; pass --force");
        (await File.ReadAllBytesAsync(BackupPath)).ShouldBe(first);
        (await RunAsync("backup", "--data-path", DataPath, "--to", BackupPath, "--force")).Code.ShouldBe(BackupCli.Ok);

        // No folder for the backup; no --to at all.
        (await RunAsync("backup", "--data-path", DataPath, "--to", Path.Combine(_directory, "no-such-folder", "b.db"))).Code.ShouldBe(BackupCli.Usage);
        var usage = await RunAsync("backup", "--data-path", DataPath);
        usage.Code.ShouldBe(RegistryCli.Usage);
        usage.Error.ShouldContain("--to");
        Directory.GetFiles(_directory, "*.partial*").ShouldBeEmpty();
    }

    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await RegistryCli.RunAsync(args, output, error, _ => null);
        return (code, output.ToString(), error.ToString());
    }

    private static async Task SignAsync(HttpClient workload)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var answer = await CertificateAuthorityTests.SignAsync(workload, CertificateVersionTests.Csr(key, "CN=reviews"));
        answer.StatusCode.ShouldBe(HttpStatusCode.OK, answer.Body);
    }

    /// <summary>Writes one at a time (<paramref name="write"/> with 0, 1, ...) until stopped or at the bound, counting sent and acknowledged.</summary>
    private static async Task WriteUntilStoppedAsync(RegistryProcess registry, WriteCounter counter, Func<HttpClient, int, Task> write, CancellationToken stop)
    {
        using var client = registry.Client(RegistryHost.AdminToken);
        for (var n = 0; n < MaxWritesPerWriter && !stop.IsCancellationRequested; n++)
        {
            counter.Sent = n + 1;
            await write(client, n);
            counter.Acknowledged = n + 1;
        }
    }

    private sealed class WriteCounter
    {
        private int _sent;
        private int _acknowledged;

        public int Sent
        {
            get => Volatile.Read(ref _sent);
            set => Volatile.Write(ref _sent, value);
        }

        public int Acknowledged
        {
            get => Volatile.Read(ref _acknowledged);
            set => Volatile.Write(ref _acknowledged, value);
        }
    }
}
