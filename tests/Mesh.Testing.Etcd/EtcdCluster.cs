using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Mesh.Testing;

/// <summary>
/// A real etcd cluster of <c>etcd</c> processes on 127.0.0.1 (Debian's etcd-server, which ./test.sh installs), for the
/// registry's etcd store, its tests and its load benchmark. Every member listens on ports found free by binding port 0,
/// keeps its data in its own folder, and the cluster has a token of its own, so clusters of parallel tests never meet.
/// Members can be killed (SIGKILL) and restarted on the same ports and data; dispose kills them all and removes the
/// folder.
/// </summary>
/// <remarks>
/// Tests run Raft with fast timings (50 ms heartbeats, 500 ms election timeout); the benchmark keeps etcd's defaults,
/// as a production cluster runs. fsync stays on either way: a write the cluster acknowledged survives a kill, which is
/// what the store's tests rely on.
/// </remarks>
public sealed class EtcdCluster : IAsyncDisposable
{
    private const int PortAttempts = 5;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);
    private static readonly Lazy<Task<EtcdCluster>> SharedCluster = new(StartSharedAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly EtcdMember[] _members;
    private readonly HttpClient _http;

    private readonly bool _productionTimings;

    private EtcdCluster(string directory, string token, EtcdMember[] members, EtcdTls? tls, bool productionTimings = false)
    {
        _productionTimings = productionTimings;
        Directory = directory;
        Token = token;
        _members = members;
        Tls = tls;
        _http = new HttpClient(HealthHandler(tls)) { Timeout = TimeSpan.FromSeconds(2) };
    }

    /// <summary>
    /// One single-member cluster for the whole test process, started on first use and killed when the process exits.
    /// Tests sharing it keep apart by key prefix (the registry test host gives each host its own).
    /// </summary>
    public static Task<EtcdCluster> Shared => SharedCluster.Value;

    /// <summary>The folder holding every member's data folder.</summary>
    public string Directory { get; }

    /// <summary>The certificates of a cluster started with client TLS (members and clients trust its CA); null without TLS.</summary>
    public EtcdTls? Tls { get; }

    /// <summary>The cluster's <c>--initial-cluster-token</c>, unique to this cluster.</summary>
    public string Token { get; }

    public int Count => _members.Length;

    /// <summary>Member <paramref name="member"/>'s name (m0, m1, ...).</summary>
    public string MemberName(int member) => _members[member].Name;

    /// <summary>The process id of member <paramref name="member"/>'s etcd itself (not its supervisor), for its memory and CPU; 0 when not running.</summary>
    public int ProcessId(int member) => _members[member].EtcdProcessId;

    /// <summary>Every member's client URL (http://127.0.0.1:port, https:// with TLS), in member order, running or not.</summary>
    public IReadOnlyList<Uri> ClientEndpoints => _members.Select(m => m.ClientUrl).ToArray();

    /// <summary>The client URLs joined by commas, as dotnet-etcd's <c>EtcdClient</c> takes them.</summary>
    public string ConnectionString => string.Join(',', _members.Select(m => m.ClientUrl.ToString().TrimEnd('/')));

    /// <summary>The last lines each member wrote, for failure messages.</summary>
    public string Output
    {
        get
        {
            var text = new StringBuilder();
            foreach (var member in _members)
            {
                text.Append("--- ").Append(member.Name).Append(" (").Append(member.ClientUrl).AppendLine(") ---").AppendLine(member.Output);
            }

            return text.ToString();
        }
    }

    /// <summary>
    /// Starts a cluster of <paramref name="members"/> (an odd number up to 7) and returns once every member reports
    /// healthy (has a leader and serves a quorum read). With <paramref name="tls"/> the members serve clients on https
    /// only and require a client certificate signed by the cluster's own CA (<see cref="Tls"/>, made in the cluster's
    /// folder). <paramref name="productionTimings"/> keeps etcd's own Raft timings and log level instead of the tests'
    /// fast ones; <paramref name="directory"/> is where the cluster's folder goes (a new temporary one by default).
    /// </summary>
    public static async Task<EtcdCluster> StartAsync(int members = 1, bool tls = false, bool productionTimings = false, string? directory = null,
        CancellationToken cancellationToken = default)
    {
        if (members is < 1 or > 7 || members % 2 == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(members), members, "A cluster has an odd number of members, 1 to 7.");
        }

        directory ??= Path.Combine(Path.GetTempPath(), "mesh-etcd-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        var certificates = tls ? EtcdTls.Create(Path.Combine(directory, "tls")) : null;
        for (var attempt = 1; ; attempt++)
        {
            // A fresh token and fresh data folders each attempt: members of a failed attempt may have recorded its peers.
            var token = $"meshlib-test-{Guid.NewGuid():N}";
            var ports = FreePorts(2 * members);
            var cluster = new EtcdCluster(directory, token, Enumerable.Range(0, members)
                .Select(i => new EtcdMember($"m{i}", Path.Combine(directory, $"attempt{attempt}", $"m{i}"), ports[2 * i], ports[(2 * i) + 1], tls))
                .ToArray(), certificates, productionTimings);
            try
            {
                foreach (var member in cluster._members)
                {
                    member.Start(cluster.Arguments(member));
                }

                await cluster.WaitHealthyAsync(cluster._members, cancellationToken);
                return cluster;
            }
            catch (EtcdPortTakenException) when (attempt < PortAttempts)
            {
                // Another process bound one of the ports between our release and etcd's bind; pick others.
                cluster.KillAll();
                cluster._http.Dispose();
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>
    /// Takes a snapshot of the cluster's whole keyspace (and leases) into <paramref name="file"/> with etcd's own tool,
    /// from running member <paramref name="member"/>: <c>ETCDCTL_API=3 etcdctl --endpoints &lt;url&gt; snapshot save &lt;file&gt;</c>.
    /// </summary>
    public Task<string> SnapshotSaveAsync(string file, int member = 0, CancellationToken cancellationToken = default) =>
        EtcdctlAsync(["--endpoints", _members[member].ClientUrl.ToString().TrimEnd('/'), "snapshot", "save", file], cancellationToken);

    /// <summary>
    /// A new single-member cluster made from <paramref name="snapshot"/> with etcd's own tool, as a lost cluster is
    /// restored: <c>ETCDCTL_API=3 etcdctl snapshot restore &lt;file&gt; --name r0 --initial-cluster r0=&lt;peer url&gt;
    /// --initial-advertise-peer-urls &lt;peer url&gt; --initial-cluster-token &lt;new token&gt; --data-dir &lt;new folder&gt;</c>, then
    /// <c>etcd</c> on that data folder. Returns once the member is healthy.
    /// </summary>
    public static async Task<EtcdCluster> RestoreAsync(string snapshot, CancellationToken cancellationToken = default)
    {
        var directory = Path.Combine(Path.GetTempPath(), "mesh-etcd-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        for (var attempt = 1; ; attempt++)
        {
            var token = $"meshlib-restored-{Guid.NewGuid():N}";
            var ports = FreePorts(2);
            var member = new EtcdMember("r0", Path.Combine(directory, $"attempt{attempt}", "r0"), ports[0], ports[1], tls: false);
            var cluster = new EtcdCluster(directory, token, [member], tls: null);
            try
            {
                // The restored member's peer URL is written into its data folder, so each attempt restores afresh.
                await EtcdctlAsync(["snapshot", "restore", snapshot, "--name", member.Name, "--initial-cluster", $"{member.Name}={member.PeerUrl}",
                    "--initial-advertise-peer-urls", member.PeerUrl, "--initial-cluster-token", token, "--data-dir", member.DataDirectory], cancellationToken);
                member.Start(cluster.Arguments(member));
                await cluster.WaitHealthyAsync(cluster._members, cancellationToken);
                return cluster;
            }
            catch (EtcdPortTakenException) when (attempt < PortAttempts)
            {
                cluster.KillAll();
                cluster._http.Dispose();
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>Runs <c>etcdctl</c> (API v3; Debian's etcd-client, which ./test.sh installs) and returns its output; throws when it fails.</summary>
    public static async Task<string> EtcdctlAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var etcdctl = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "etcdctl"))
            .FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("etcdctl is not on PATH: ./test.sh installs Debian's etcd-client (apt-get install etcd-client).");
        var info = new System.Diagnostics.ProcessStartInfo(etcdctl)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // etcdctl reads every flag from an ETCDCTL_* variable too; only the arguments count, on API v3.
        foreach (var key in info.Environment.Keys.ToList())
        {
            if (key.StartsWith("ETCDCTL_", StringComparison.OrdinalIgnoreCase))
            {
                info.Environment.Remove(key);
            }
        }

        info.Environment["ETCDCTL_API"] = "3";
        using var process = System.Diagnostics.Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(StartTimeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            throw new TimeoutException($"etcdctl {string.Join(' ', arguments)} did not end within {StartTimeout.TotalSeconds:0} s.");
        }

        var text = await output + await error;
        return process.ExitCode == 0 ? text : throw new InvalidOperationException($"etcdctl {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{text}");
    }

    /// <summary>Whether member <paramref name="member"/>'s process is running.</summary>
    public bool IsRunning(int member) => _members[member].IsRunning;

    /// <summary>Kills member <paramref name="member"/> with SIGKILL and waits until its process is gone.</summary>
    public void Kill(int member) => _members[member].Kill();

    public void KillAll()
    {
        foreach (var member in _members)
        {
            member.Kill();
        }
    }

    /// <summary>
    /// Starts killed member <paramref name="member"/> again on its ports and data. Returns once it is healthy when a
    /// quorum is running with it; without a quorum it cannot be (etcd serves clients only once the cluster has taken
    /// its attributes), so then once it listens for its peers.
    /// </summary>
    public async Task RestartAsync(int member, CancellationToken cancellationToken = default)
    {
        var restarted = _members[member];
        if (restarted.IsRunning)
        {
            throw new InvalidOperationException($"Member {restarted.Name} is running; kill it first.");
        }

        restarted.Start(Arguments(restarted));
        if (_members.Count(m => m.IsRunning) > _members.Length / 2)
        {
            await WaitHealthyAsync([restarted], cancellationToken);
        }
        else
        {
            await WaitListeningForPeersAsync(restarted, cancellationToken);
        }
    }

    /// <summary>Starts every killed member again and returns once every member is healthy.</summary>
    public async Task RestartAllAsync(CancellationToken cancellationToken = default)
    {
        foreach (var member in _members.Where(m => !m.IsRunning))
        {
            member.Start(Arguments(member));
        }

        await WaitHealthyAsync(_members, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        KillAll();
        _http.Dispose();
        TestFiles.DeleteDirectory(Directory);
        await Task.CompletedTask;
    }

    private static async Task<EtcdCluster> StartSharedAsync()
    {
        var cluster = await StartAsync(1);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            cluster.KillAll();
            TestFiles.DeleteDirectory(cluster.Directory);
        };
        return cluster;
    }

    private string[] Arguments(EtcdMember member) => Tls is null
        ? PlainArguments(member)
        :
        [
            .. PlainArguments(member),
            "--cert-file", Tls.ServerCertificateFile,
            "--key-file", Tls.ServerKeyFile,
            "--trusted-ca-file", Tls.CaFile,
            "--client-cert-auth",
        ];

    private string[] PlainArguments(EtcdMember member) =>
    [
        "--name", member.Name,
        "--data-dir", member.DataDirectory,
        "--listen-client-urls", member.ClientUrl.ToString().TrimEnd('/'),
        "--advertise-client-urls", member.ClientUrl.ToString().TrimEnd('/'),
        "--listen-peer-urls", member.PeerUrl,
        "--initial-advertise-peer-urls", member.PeerUrl,
        "--initial-cluster", string.Join(',', _members.Select(m => $"{m.Name}={m.PeerUrl}")),
        "--initial-cluster-token", Token,
        "--initial-cluster-state", "new",
        "--logger", "zap",
        .. _productionTimings
            ? (string[])["--log-level", "warn"]
            : ["--heartbeat-interval", "50", "--election-timeout", "500", "--snapshot-count", "10000", "--log-level", "info"],
    ];

    /// <summary>The handler of the health probe: with TLS it trusts the cluster's CA alone and presents its client certificate.</summary>
    private static SocketsHttpHandler HealthHandler(EtcdTls? tls)
    {
        var handler = new SocketsHttpHandler();
        if (tls is not null)
        {
            var ca = tls.LoadCa();
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = [tls.LoadClientCertificate()],
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                    certificate is X509Certificate2 leaf && TestFiles.ChainsTo(leaf, [ca], DateTimeOffset.UtcNow),
            };
        }

        return handler;
    }

    private async Task WaitListeningForPeersAsync(EtcdMember member, CancellationToken cancellationToken)
    {
        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        while (true)
        {
            if (!member.IsRunning)
            {
                throw new InvalidOperationException($"etcd member {member.Name} exited while starting.\n{Output}");
            }

            using (var probe = new TcpClient())
            {
                try
                {
                    await probe.ConnectAsync(IPAddress.Loopback, member.PeerPort, cancellationToken);
                    return;
                }
                catch (SocketException)
                {
                    // not listening yet
                }
            }

            if (time.GetElapsedTime(started) > StartTimeout)
            {
                throw new TimeoutException($"etcd member {member.Name} did not listen on its peer port within {StartTimeout.TotalSeconds:0} s.\n{Output}");
            }

            await Task.Delay(PollInterval, time, cancellationToken);
        }
    }

    private Task WaitHealthyAsync(IReadOnlyList<EtcdMember> members, CancellationToken cancellationToken) =>
        WaitUntilAsync(members, "/health", body => body.Contains("\"health\":\"true\"", StringComparison.Ordinal), cancellationToken);

    /// <summary>Polls <paramref name="path"/> on each of <paramref name="members"/> until its body satisfies <paramref name="ready"/>.</summary>
    private async Task WaitUntilAsync(IReadOnlyList<EtcdMember> members, string path, Func<string, bool> ready, CancellationToken cancellationToken)
    {
        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        var pending = members.ToList();
        while (true)
        {
            foreach (var member in pending.ToList())
            {
                if (member.HasExited || !member.IsRunning)
                {
                    var output = Output;
                    if (output.Contains("address already in use", StringComparison.Ordinal))
                    {
                        throw new EtcdPortTakenException($"etcd member {member.Name} could not bind its ports.\n{output}");
                    }

                    throw new InvalidOperationException($"etcd member {member.Name} exited while starting.\n{output}");
                }

                if (await AnswersAsync(member.ClientUrl, path, ready, cancellationToken))
                {
                    pending.Remove(member);
                }
            }

            if (pending.Count == 0)
            {
                return;
            }

            if (time.GetElapsedTime(started) > StartTimeout)
            {
                throw new TimeoutException(
                    $"etcd members {string.Join(", ", pending.Select(m => m.Name))} did not answer {path} within {StartTimeout.TotalSeconds:0} s.\n{Output}");
            }

            await Task.Delay(PollInterval, time, cancellationToken);
        }
    }

    private async Task<bool> AnswersAsync(Uri clientUrl, string path, Func<string, bool> ready, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _http.GetAsync(new Uri(clientUrl, path), cancellationToken);
            return response.StatusCode == HttpStatusCode.OK && ready(await response.Content.ReadAsStringAsync(cancellationToken));
        }
        catch (HttpRequestException)
        {
            return false; // not listening yet
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false; // the client's timeout: busy electing
        }
    }

    /// <summary>Distinct ports that were free a moment ago: bound on port 0, read, released.</summary>
    private static int[] FreePorts(int count)
    {
        var listeners = new List<TcpListener>();
        try
        {
            // All bound at once so the kernel cannot hand out the same port twice.
            for (var i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }

            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Stop();
            }
        }
    }
}
