using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;

namespace Mesh.Testing;

/// <summary>
/// One <c>etcd</c> process of an <see cref="EtcdCluster"/>: its name, ports and data folder stay the same across
/// restarts, so a restarted member rejoins with the state it had on disk.
/// </summary>
internal sealed class EtcdMember
{
    // The last lines are enough to tell why a member died or did not elect; a long test must not grow it unbounded.
    private const int OutputLines = 400;

    private readonly ConcurrentQueue<string> _output = new();
    private Process? _process;

    public EtcdMember(string name, string dataDirectory, int clientPort, int peerPort)
    {
        Name = name;
        DataDirectory = dataDirectory;
        ClientPort = clientPort;
        PeerPort = peerPort;
    }

    public string Name { get; }

    public string DataDirectory { get; }

    public int ClientPort { get; }

    public int PeerPort { get; }

    public Uri ClientUrl => new($"http://127.0.0.1:{ClientPort}");

    public string PeerUrl => $"http://127.0.0.1:{PeerPort}";

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Whether the process has ended on its own since it was started (not by <see cref="Kill"/>).</summary>
    public bool HasExited => _process is { HasExited: true };

    public string Output => string.Join('\n', _output);

    public void Start(IReadOnlyList<string> arguments)
    {
        var info = new ProcessStartInfo("etcd")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
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
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            process.Dispose();
            throw new InvalidOperationException("etcd is not on PATH: ./test.sh installs Debian's etcd-server (apt-get install etcd-server).", ex);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
    }

    /// <summary>Ends the process with SIGKILL, as a crash or power loss would, and waits until it is gone.</summary>
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
            if (!process.HasExited)
            {
                process.Kill();
            }

            process.WaitForExit();
            Append($"[{Name}] killed");
        }
        catch (InvalidOperationException)
        {
            // Exited between the check and the kill.
        }
        finally
        {
            process.Dispose();
        }
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
