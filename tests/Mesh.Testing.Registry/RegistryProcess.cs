using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;

namespace Mesh.Testing;

/// <summary>
/// The built registry run as its own process: <c>dotnet Mesh.Registry.dll --urls http(s)://127.0.0.1:&lt;port&gt;</c>. Over
/// https it is probed through a client pinned by the fingerprint the process prints at start.
/// </summary>
public sealed class RegistryProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly ConcurrentBag<IDisposable> _transports = [];

    private RegistryProcess(Process process, Uri address)
    {
        _process = process;
        Address = address;
    }

    public Uri Address { get; }

    /// <summary>The CA fingerprint the process printed (over https; null until printed).</summary>
    public string? Fingerprint
    {
        get
        {
            var line = _output.FirstOrDefault(l => l.Contains(FingerprintMarker, StringComparison.Ordinal));
            return line?[(line.IndexOf(FingerprintMarker, StringComparison.Ordinal) + FingerprintMarker.Length)..].Split(' ')[0];
        }
    }

    private const string FingerprintMarker = "CA fingerprint: ";

    public string Output => string.Join('\n', _output);

    public static string DllPath
    {
        get
        {
            // tests/Mesh.Registry.Tests/bin/<Configuration>/net10.0/ → src/Mesh.Registry/bin/<Configuration>/net10.0/Mesh.Registry.dll
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

            throw new FileNotFoundException("Mesh.Registry.dll not found; build src/Mesh.Registry first.");
        }
    }

    /// <summary>
    /// Runs the registry's command line (<c>dotnet Mesh.Registry.dll &lt;arguments&gt;</c>, e.g. <c>backup ...</c>) to its end
    /// and returns its exit code and output; kills it when it runs past <paramref name="timeout"/>.
    /// </summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunCommandAsync(IReadOnlyList<string> arguments, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(DllPath)!,
        };
        info.ArgumentList.Add(DllPath);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var key in info.Environment.Keys.ToList())
        {
            if (key.StartsWith("MeshRegistry", StringComparison.OrdinalIgnoreCase) || key.StartsWith("MESH_", StringComparison.OrdinalIgnoreCase))
            {
                info.Environment.Remove(key);
            }
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"'{string.Join(' ', arguments)}' did not end within {timeout}:\n{await output}\n{await error}");
        }

        return (process.ExitCode, await output, await error);
    }

    /// <summary>Starts the registry on <paramref name="port"/> (a free one when 0; a restart passes the port it had, so its clients find it again).</summary>
    public static async Task<RegistryProcess> StartAsync(IReadOnlyDictionary<string, string> environment, bool https = false, int port = 0)
    {
        var registry = Launch(environment, https, port);
        await registry.WaitUntilReadyAsync();
        return registry;
    }

    /// <summary>Starts the process without waiting for it to answer; <see cref="WaitUntilReadyAsync"/> waits (or kills it when it does not).</summary>
    public static RegistryProcess Launch(IReadOnlyDictionary<string, string> environment, bool https = false, int port = 0)
    {
        ArgumentNullException.ThrowIfNull(environment);
        port = port == 0 ? FreePort() : port;
        var address = new Uri($"{(https ? "https" : "http")}://127.0.0.1:{port}");
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(DllPath)!,
        };
        info.ArgumentList.Add(DllPath);
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add(address.ToString().TrimEnd('/'));
        foreach (var key in info.Environment.Keys.ToList())
        {
            if (key.StartsWith("MeshRegistry", StringComparison.OrdinalIgnoreCase) || key.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase) ||
                key.Equals("URLS", StringComparison.OrdinalIgnoreCase))
            {
                info.Environment.Remove(key);
            }
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info };
        var registry = new RegistryProcess(process, address);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                registry._output.Enqueue(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                registry._output.Enqueue("stderr: " + e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return registry;
    }

    public async Task WaitUntilReadyAsync()
    {
        var process = _process;
        var registry = this;
        var address = Address;
        HttpClient? probe = address.Scheme == Uri.UriSchemeHttps ? null : new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (process.HasExited)
            {
                probe?.Dispose();
                throw new InvalidOperationException($"The registry exited with {process.ExitCode}:\n{registry.Output}");
            }

            if (probe is null && registry.Fingerprint is { } fingerprint)
            {
                probe = registry.PinnedClient(null, fingerprint);
                probe.Timeout = TimeSpan.FromSeconds(2);
            }

            try
            {
                using var response = probe is null ? null : await probe.GetAsync(new Uri("/healthz", UriKind.Relative));
                if (response?.StatusCode == HttpStatusCode.OK)
                {
                    probe!.Dispose();
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException)
            {
                // not answering yet
            }

            if (DateTime.UtcNow > deadline)
            {
                probe?.Dispose();
                registry.Kill();
                throw new TimeoutException($"The registry did not start:\n{registry.Output}");
            }

            await Task.Delay(50);
        }
    }

    public HttpClient Client(string? token)
    {
        var client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    /// <summary>A client through the workloads' own transport, pinned by <paramref name="fingerprint"/>, sending <paramref name="token"/>.</summary>
    public HttpClient PinnedClient(string? token, string fingerprint)
    {
        var options = new Mesh.Client.MeshOptions();
        options.Registry.Url = Address;
        options.Registry.Token = token;
        options.Registry.CaFingerprint = fingerprint;
        var transport = new Mesh.Client.Registry.RegistryTransport(Microsoft.Extensions.Options.Options.Create(options), TimeProvider.System, Mesh.Client.Internal.RandomSource.Shared,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Mesh.Client.Registry.RegistryTransport>.Instance);
        _transports.Add(transport);
        return new HttpClient(transport.CreateHandler()) { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.WaitForExit();
    }

    public ValueTask DisposeAsync()
    {
        foreach (var transport in _transports)
        {
            transport.Dispose();
        }

        Kill();
        _process.Dispose();
        return ValueTask.CompletedTask;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
