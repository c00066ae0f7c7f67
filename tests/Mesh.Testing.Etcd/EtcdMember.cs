using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Mesh.Testing;

/// <summary>
/// One <c>etcd</c> process of an <see cref="EtcdCluster"/>: its name, ports and data folder stay the same across
/// restarts, so a restarted member rejoins with the state it had on disk.
/// </summary>
/// <remarks>
/// etcd runs under a small <c>sh</c> that SIGKILLs it when a line arrives on the wrapper's stdin or that stdin closes,
/// and then reaps it. So a kill returns only once etcd is gone (its ports and data lock free for a restart), and a test
/// process that ends without disposing (a hang dump, a crash) leaves no etcd behind: its end closes the pipe.
/// </remarks>
internal sealed class EtcdMember
{
    // The last lines are enough to tell why a member died or did not elect; a long test must not grow it unbounded.
    private const int OutputLines = 400;

    // $1 is etcd's path, the rest its arguments. The watcher reads the wrapper's stdin through fd 3 (an asynchronous
    // list's own stdin is /dev/null); the wrapper exits with etcd's status whichever way etcd ends.
    private const string Supervisor = """
        etcd="$1"; shift
        exec 3<&0
        "$etcd" "$@" </dev/null &
        pid=$!
        ( read -r _ <&3; kill -9 "$pid" 2>/dev/null ) &
        watcher=$!
        wait "$pid"; status=$?
        kill "$watcher" 2>/dev/null
        exit "$status"
        """;

    private static readonly Lazy<string?> EtcdPath = new(() =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "etcd"))
            .FirstOrDefault(File.Exists));

    private readonly ConcurrentQueue<string> _output = new();
    private Process? _process;

    public EtcdMember(string name, string dataDirectory, int clientPort, int peerPort, bool tls)
    {
        Name = name;
        Tls = tls;
        DataDirectory = dataDirectory;
        ClientPort = clientPort;
        PeerPort = peerPort;
    }

    public string Name { get; }

    public string DataDirectory { get; }

    public int ClientPort { get; }

    public int PeerPort { get; }

    /// <summary>Whether the member serves clients over TLS (its peers still talk plain HTTP).</summary>
    public bool Tls { get; }

    public Uri ClientUrl => new($"{(Tls ? "https" : "http")}://127.0.0.1:{ClientPort}");

    public string PeerUrl => $"http://127.0.0.1:{PeerPort}";

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Whether etcd has ended on its own since it was started (not by <see cref="Kill"/>).</summary>
    public bool HasExited => _process is { HasExited: true };

    public string Output => string.Join('\n', _output);

    /// <summary>The etcd process itself, the supervisor's child; 0 when not running or not started yet.</summary>
    public int EtcdProcessId
    {
        get
        {
            if (_process is not { HasExited: false } supervisor)
            {
                return 0;
            }

            var children = $"/proc/{supervisor.Id}/task/{supervisor.Id}/children";
            if (!File.Exists(children))
            {
                return 0;
            }

            foreach (var child in File.ReadAllText(children).Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var comm = $"/proc/{child}/comm";
                if (File.Exists(comm) && File.ReadAllText(comm).Trim() == "etcd")
                {
                    return int.Parse(child, CultureInfo.InvariantCulture);
                }
            }

            return 0;
        }
    }

    public void Start(IReadOnlyList<string> arguments)
    {
        var etcd = EtcdPath.Value
            ?? throw new InvalidOperationException("etcd is not on PATH: ./test.sh installs Debian's etcd-server (apt-get install etcd-server).");
        var info = new ProcessStartInfo("sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(Supervisor);
        info.ArgumentList.Add("etcd-supervisor");
        info.ArgumentList.Add(etcd);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // etcd reads every flag from an ETCD_* variable too (Debian's service file sets them); only the arguments count.
        foreach (var key in info.Environment.Keys.ToList())
        {
            if (key.StartsWith("ETCD_", StringComparison.OrdinalIgnoreCase))
            {
                info.Environment.Remove(key);
            }
        }

        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        Append($"[{Name}] etcd {string.Join(' ', arguments)}");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
    }

    /// <summary>Ends etcd with SIGKILL, as a crash or power loss would, and waits until it is gone.</summary>
    public void Kill()
    {
        var process = _process;
        _process = null;
        if (process is null)
        {
            return;
        }

        try
        {
            process.StandardInput.WriteLine("kill");
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The wrapper is gone already: etcd ended on its own.
        }

        // The wrapper exits once etcd has died and been reaped.
        process.WaitForExit();
        Append($"[{Name}] killed");
        process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        while (_output.Count > OutputLines && _output.TryDequeue(out _))
        {
        }
    }
}
