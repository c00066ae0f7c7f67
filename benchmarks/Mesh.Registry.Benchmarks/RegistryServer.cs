using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Mesh.Registry.Benchmarks;

/// <summary>
/// One built registry process, <c>dotnet Mesh.Registry.dll --urls http://127.0.0.1:&lt;port&gt;</c>, configured only
/// through environment variables as in production. Disposing it kills the process; its folder belongs to the
/// <see cref="RegistryDeployment"/>.
/// </summary>
internal sealed class RegistryServer : IDisposable
{
    private const int OutputLines = 200;
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private int _disposed;

    private RegistryServer(string name, Process process, Uri address)
    {
        Name = name;
        _process = process;
        Address = address;
    }

    /// <summary>r0, r1, …: the replica's place in the deployment.</summary>
    public string Name { get; }

    public Uri Address { get; }

    public int Pid => _process.Id;

    public string Output => string.Join('\n', _output);

    public static string ServiceName(int i) => "svc" + i.ToString(CultureInfo.InvariantCulture);

    /// <summary>Mesh.Registry.dll of the same configuration as this build: src/Mesh.Registry/bin/&lt;config&gt;/&lt;tfm&gt;/.</summary>
    public static string FindDll()
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = output.Parent!.Name;
        var tfm = output.Name;
        for (var dir = output; dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "src", "Mesh.Registry", "bin", configuration, tfm, "Mesh.Registry.dll");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"Mesh.Registry.dll ({configuration}, {tfm}) not found above {output.FullName}; build src/Mesh.Registry or pass --registry.");
    }

    public static async Task<RegistryServer> StartAsync(string name, string dll, string directory, IReadOnlyDictionary<string, string> environment,
        CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        var port = FreePort();
        var address = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory,
        };
        info.ArgumentList.Add(dll);
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add(address.ToString().TrimEnd('/'));

        // Only what this run sets: no registry, ASP.NET Core or logging settings inherited from the shell.
        foreach (var key in info.Environment.Keys.ToList())
        {
            if (key.StartsWith("MeshRegistry", StringComparison.OrdinalIgnoreCase) || key.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase) ||
                key.StartsWith("Logging__", StringComparison.OrdinalIgnoreCase) || key.Equals("URLS", StringComparison.OrdinalIgnoreCase))
            {
                info.Environment.Remove(key);
            }
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info };
        var server = new RegistryServer(name, process, address);
        process.OutputDataReceived += (_, e) => server.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => server.Keep(e.Data is null ? null : "stderr: " + e.Data);
        try
        {
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await server.WaitHealthyAsync(cancellationToken);
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>VmRSS and VmHWM of the registry process, in bytes, from /proc/&lt;pid&gt;/status.</summary>
    public (long Rss, long Hwm) Memory() => Memory(Pid);

    /// <summary>VmRSS and VmHWM of process <paramref name="pid"/>, in bytes; zeros when it is gone.</summary>
    public static (long Rss, long Hwm) Memory(int pid)
    {
        long rss = 0, hwm = 0;
        var status = $"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/status";
        if (pid <= 0 || !File.Exists(status))
        {
            return (0, 0);
        }

        foreach (var line in File.ReadLines(status))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = Kilobytes(line) * 1024;
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                hwm = Kilobytes(line) * 1024;
            }
        }

        return (rss, hwm);
    }

    /// <summary>The registry's CPU time so far (user + system).</summary>
    public TimeSpan CpuTime()
    {
        _process.Refresh();
        return _process.TotalProcessorTime;
    }

    /// <summary>The CPU time so far (user + system) of process <paramref name="pid"/>; zero when it is gone.</summary>
    public static TimeSpan CpuTime(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.TotalProcessorTime;
        }
        catch (ArgumentException)
        {
            return TimeSpan.Zero;
        }
        catch (InvalidOperationException)
        {
            return TimeSpan.Zero;
        }
    }

    public int Threads()
    {
        _process.Refresh();
        return _process.Threads.Count;
    }

    public bool HasExited => _process.HasExited;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // never started
        }

        _process.Dispose();
    }

    private async Task WaitHealthyAsync(CancellationToken cancellationToken)
    {
        using var probe = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        for (var attempt = 0; attempt < 1200; attempt++)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"Registry {Name} exited with {_process.ExitCode}:\n{Output}");
            }

            try
            {
                using var response = await probe.GetAsync(new Uri("/healthz", UriKind.Relative), cancellationToken);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // not answering yet
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
            {
                break;
            }

            await Task.Delay(50, cancellationToken);
        }

        throw new TimeoutException($"Registry {Name} did not become healthy within 60 s:\n{Output}");
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

    private static long Kilobytes(string line)
    {
        var digits = new string([.. line.Where(char.IsAsciiDigit)]);
        return long.Parse(digits, CultureInfo.InvariantCulture);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
