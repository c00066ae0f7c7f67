using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Mesh.LoadBenchmarks;

/// <summary>The backend child process, seen from the load generator: its listener ports, its counters, and killing it.</summary>
internal sealed class BackendProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _errors = new();

    private BackendProcess(Process process, int[] ports)
    {
        _process = process;
        Ports = ports;
    }

    public int[] Ports { get; }

    public int Pid => _process.Id;

    public static Task<BackendProcess> StartAsync(IReadOnlyList<ListenerSpec> listeners, string tlsDirectory, CancellationToken cancellationToken)
    {
        var arguments = new List<string> { "backend", "--tls-dir", tlsDirectory };
        foreach (var listener in listeners)
        {
            arguments.Add("--listen");
            arguments.Add(listener.ToString());
        }

        return StartAsync(arguments, listeners.Count, cancellationToken);
    }

    /// <summary>This executable in one of its backend modes (<c>backend</c>, <c>grpc-backend</c>), once it printed <c>READY</c>.</summary>
    public static async Task<BackendProcess> StartAsync(IReadOnlyList<string> arguments, int listenerCount, CancellationToken cancellationToken)
    {
        var start = SelfCommand();
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.RedirectStandardInput = true;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the backend process");
        var ports = new int[listenerCount];
        var backend = new BackendProcess(process, ports);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                backend._errors.Enqueue(e.Data);
            }
        };
        process.BeginErrorReadLine();

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            while (true)
            {
                var line = await process.StandardOutput.ReadLineAsync(timeout.Token)
                    ?? throw new InvalidOperationException("the backend process exited before it was ready: " + string.Join('\n', backend._errors));
                if (line == "READY")
                {
                    return backend;
                }

                var parts = line.Split(' ');
                if (parts.Length == 3 && parts[0] == "LISTEN")
                {
                    ports[int.Parse(parts[1], CultureInfo.InvariantCulture)] = int.Parse(parts[2], CultureInfo.InvariantCulture);
                }
            }
        }
        catch
        {
            backend.Dispose();
            throw;
        }
    }

    /// <summary>This executable again: the apphost when there is one, else <c>dotnet &lt;this dll&gt;</c>.</summary>
    public static ProcessStartInfo SelfCommand()
    {
        var path = Environment.ProcessPath ?? throw new InvalidOperationException("the process path is unknown");
        var start = new ProcessStartInfo(path);
        if (string.Equals(Path.GetFileNameWithoutExtension(path), "dotnet", StringComparison.OrdinalIgnoreCase))
        {
            start.ArgumentList.Add(typeof(BackendProcess).Assembly.Location);
        }

        return start;
    }

    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(5000))
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
        }
        catch (IOException)
        {
        }

        _process.Dispose();
    }
}
