using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;

namespace Mesh.IntegrationTests.Discovery;

/// <summary>
/// <c>tests/consul-client/check.js</c> under node: the npm <c>consul</c> client (installed there by test.sh) against
/// a registry, reporting what it reads as JSON lines. Disposing asks it to stop and kills it if it does not.
/// </summary>
internal sealed class NodeConsulClient : IDisposable
{
    private readonly Process _process;
    private readonly Channel<JsonElement> _events = Channel.CreateUnbounded<JsonElement>();
    private readonly List<string> _errors = [];

    private NodeConsulClient(Process process)
    {
        _process = process;
    }

    public static NodeConsulClient Start(Uri registry, string token, string service)
    {
        var folder = Path.Combine(RepositoryRoot(), "tests", "consul-client");
        if (!Directory.Exists(Path.Combine(folder, "node_modules", "consul")))
        {
            throw new InvalidOperationException($"The npm consul client is not installed in {folder}; test.sh installs it (npm ci there).");
        }

        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = folder,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("check.js");
        start.ArgumentList.Add(registry.ToString());
        start.ArgumentList.Add(token);
        start.ArgumentList.Add(service);
        var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start; is nodejs installed?");
        var client = new NodeConsulClient(process);
        process.OutputDataReceived += (_, e) => client.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (client._errors)
                {
                    client._errors.Add(e.Data);
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return client;
    }

    /// <summary>What node wrote to standard error, for a failing test to show.</summary>
    public string Errors
    {
        get
        {
            lock (_errors)
            {
                return string.Join(Environment.NewLine, _errors);
            }
        }
    }

    /// <summary>The next event the script reports; an <c>error</c> event fails the test with its message.</summary>
    public async Task<JsonElement> NextAsync(TimeSpan deadline)
    {
        using var timeout = new CancellationTokenSource(deadline);
        JsonElement next;
        try
        {
            next = await _events.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no event from the consul client within {deadline}; stderr: {Errors}");
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException($"the consul client exited; stderr: {Errors}");
        }

        if (next.GetProperty("event").GetString() == "error")
        {
            throw new InvalidOperationException($"the consul client failed: {next}; stderr: {Errors}");
        }

        return next;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.WriteLine("stop");
                _process.StandardInput.Flush();
                if (!_process.WaitForExit(10_000))
                {
                    _process.Kill(entireProcessTree: true);
                    _process.WaitForExit(10_000);
                }
            }
        }
        finally
        {
            _process.Dispose();
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            _events.Writer.TryComplete();
            return;
        }

        if (line.StartsWith('{'))
        {
            using var json = JsonDocument.Parse(line);
            _events.Writer.TryWrite(json.RootElement.Clone());
        }
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "MeshLib.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException("MeshLib.sln not found above " + AppContext.BaseDirectory);
    }
}
