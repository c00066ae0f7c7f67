using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Mesh.Registry.Benchmarks;

/// <summary>
/// One <c>etcd</c> process of the benchmark's cluster, under a small <c>sh</c> that SIGKILLs it when the wrapper's
/// stdin closes: a benchmark that ends any way but <c>kill -9</c> of its own leaves no etcd behind.
/// </summary>
internal sealed class EtcdMember : IDisposable
{
    private const int OutputLines = 200;

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

    private readonly ConcurrentQueue<string> _output = new();
    private Process? _process;
    private int _etcdPid;

    public EtcdMember(string name, string dataDirectory, int clientPort, int peerPort)
    {
        Name = name;
        DataDirectory = dataDirectory;
        ClientUrl = new Uri($"http://127.0.0.1:{clientPort.ToString(CultureInfo.InvariantCulture)}");
        PeerUrl = $"http://127.0.0.1:{peerPort.ToString(CultureInfo.InvariantCulture)}";
    }

    public string Name { get; }

    public string DataDirectory { get; }

    public Uri ClientUrl { get; }

    public string PeerUrl { get; }

    public bool HasExited => _process is { HasExited: true };

    public string Output => string.Join('\n', _output);

    /// <summary>The etcd process itself (the wrapper's child), for its memory and CPU; 0 until found.</summary>
    public int Pid
    {
        get
        {
            if (_etcdPid == 0 && _process is { } p && File.Exists($"/proc/{p.Id}/task/{p.Id}/children"))
            {
                var children = File.ReadAllText($"/proc/{p.Id}/task/{p.Id}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries);
                foreach (var child in children)
                {
                    var pid = int.Parse(child, CultureInfo.InvariantCulture);
                    if (File.Exists($"/proc/{child}/comm") && File.ReadAllText($"/proc/{child}/comm").Trim() == "etcd")
                    {
                        _etcdPid = pid;
                    }
                }
            }

            return _etcdPid;
        }
    }

    public static string? FindEtcd() =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "etcd"))
            .FirstOrDefault(File.Exists);

    public void Start(string etcd, IReadOnlyList<string> arguments)
    {
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

        // etcd reads every flag from an ETCD_* variable too; only the arguments count.
        foreach (var key in info.Environment.Keys.ToList())
        {
            if (key.StartsWith("ETCD_", StringComparison.OrdinalIgnoreCase))
            {
                info.Environment.Remove(key);
            }
        }

        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
    }

    /// <summary>SIGKILLs etcd through its wrapper and waits until it is gone.</summary>
    public void Dispose()
    {
        var process = Interlocked.Exchange(ref _process, null);
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

        process.WaitForExit(10_000);
        process.Dispose();
    }

    private void Keep(string? line)
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
