using System.Collections.ObjectModel;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Mesh.LoadBenchmarks;

/// <summary>
/// One nginx from the Debian package (<c>nginx -c &lt;conf&gt; -p &lt;dir&gt; -g 'daemon off;'</c>), one worker, with a
/// configuration this class writes into its own folder: upstream keepalive (HTTP/1.1, <c>Connection ""</c>), no
/// access log, TLS legs verified against the benchmark's CA; for gRPC, an h2c listener and <c>grpc_pass</c> to an h2c
/// upstream. <c>stub_status</c> on a second port counts the connections it accepted (with TLS on the listener: the
/// handshakes). Disposing it kills the process tree.
/// </summary>
internal sealed class NginxProcess : IDisposable
{
    private readonly Process _process;
    private readonly int _statusPort;
    private static readonly HttpClient s_statusClient = new(new SocketsHttpHandler { UseProxy = false });

    private NginxProcess(Process process, string directory, int port, int statusPort)
    {
        _process = process;
        Directory = directory;
        Port = port;
        _statusPort = statusPort;
    }

    public int Port { get; }

    /// <summary>Its folder: configuration, error log, temporary files.</summary>
    public string Directory { get; }

    public static string Executable()
    {
        foreach (var candidate in new[] { "/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx" })
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("nginx is not installed; benchmarks/load-benchmarks.sh installs it (apt-get install -y nginx).");
    }

    public static async Task<NginxProcess> StartAsync(NginxProxySpec spec, string parentDirectory, TestPki pki, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(parentDirectory, "nginx-" + spec.Name);
        System.IO.Directory.CreateDirectory(directory);
        var ports = Backend.FreePorts(2);
        var (port, statusPort) = (ports[0], ports[1]);
        var conf = Path.Combine(directory, "nginx.conf");
        await File.WriteAllTextAsync(conf, Configuration(spec, directory, port, statusPort, pki), cancellationToken);

        var start = new ProcessStartInfo(Executable())
        {
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        foreach (var argument in new[] { "-c", conf, "-p", directory, "-e", Path.Combine(directory, "error.log"), "-g", "daemon off;" })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start nginx");
        var nginx = new NginxProcess(process, directory, port, statusPort);
        try
        {
            var deadline = Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency);
            while (!await CanConnectAsync(port, cancellationToken) || !await CanConnectAsync(statusPort, cancellationToken))
            {
                if (process.HasExited || Stopwatch.GetTimestamp() > deadline)
                {
                    var log = Path.Combine(directory, "error.log");
                    throw new InvalidOperationException($"nginx {spec.Name} did not start ({conf}): " +
                        (File.Exists(log) ? await File.ReadAllTextAsync(log, cancellationToken) : await process.StandardError.ReadToEndAsync(cancellationToken)));
                }

                await Task.Delay(50, cancellationToken);
            }

            return nginx;
        }
        catch
        {
            nginx.Dispose();
            throw;
        }
    }

    /// <summary>Connections accepted so far, not counting the status request's own.</summary>
    public async Task<long> AcceptedConnectionsAsync(CancellationToken cancellationToken)
    {
        // "Active connections: 1 \nserver accepts handled requests\n 5 5 9 \n..."
        var text = await s_statusClient.GetStringAsync(new Uri($"http://127.0.0.1:{_statusPort}/"), cancellationToken);
        var lines = text.Split('\n');
        var numbers = lines[2].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return long.Parse(numbers[0], CultureInfo.InvariantCulture) - 1;
    }

    /// <summary>CPU time of the master and its workers, from /proc (clock ticks of 10 ms).</summary>
    public TimeSpan CpuTime()
    {
        long ticks = 0;
        foreach (var pid in ProcessTree(_process.Id))
        {
            ticks += CpuProbe.ProcessTicks(pid);
        }

        return CpuProbe.Ticks(ticks);
    }

    internal static ReadOnlyCollection<int> ProcessTree(int root)
    {
        var pids = new List<int> { root };
        foreach (var dir in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[1], CultureInfo.InvariantCulture) == root)
                {
                    pids.Add(pid);
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return pids.AsReadOnly();
    }

    private static string Configuration(NginxProxySpec spec, string directory, int port, int statusPort, TestPki pki)
    {
        var text = new StringBuilder();
        var user = Environment.UserName == "root" ? "user root;\n" : string.Empty;
        text.Append(CultureInfo.InvariantCulture, $$"""
            {{user}}worker_processes 1;
            pid {{directory}}/nginx.pid;
            error_log {{directory}}/error.log warn;
            events { worker_connections 4096; }
            http {
              access_log off;
              client_body_temp_path {{directory}}/client_body;
              proxy_temp_path {{directory}}/proxy;
              fastcgi_temp_path {{directory}}/fastcgi;
              uwsgi_temp_path {{directory}}/uwsgi;
              scgi_temp_path {{directory}}/scgi;
              # A sidecar keeps its connections: no cap on requests per connection, long idle timeouts.
              keepalive_requests 1000000;
              keepalive_timeout 300s;
              upstream next {
                server 127.0.0.1:{{spec.UpstreamPort}};
                keepalive 128;
                keepalive_requests 1000000;
                keepalive_timeout 300s;
              }
              server {
                listen 127.0.0.1:{{port}}{{(spec.ListenMtls ? " ssl" : string.Empty)}}{{(spec.Grpc ? " http2" : string.Empty)}};

            """);
        if (spec.Grpc)
        {
            if (spec.ListenMtls || spec.UpstreamMtls)
            {
                throw new ArgumentException("the gRPC proxy is cleartext (h2c) on both legs", nameof(spec));
            }

            // h2c in and out. grpc_pass sends one call per upstream connection at a time; the upstream's keepalive
            // keeps those connections for the next calls, as it does for proxy_pass.
            text.Append(CultureInfo.InvariantCulture, $$"""
                    location / {
                      grpc_pass grpc://next;
                    }
                  }
                  server {
                    listen 127.0.0.1:{{statusPort}};
                    location / { stub_status; }
                  }
                }

                """);
            return text.ToString();
        }

        if (spec.ListenMtls)
        {
            text.Append(CultureInfo.InvariantCulture, $"""
                    ssl_certificate {pki.ServerCertPem};
                    ssl_certificate_key {pki.ServerKeyPem};
                    ssl_client_certificate {pki.CaPem};
                    ssl_verify_client on;
                    ssl_protocols TLSv1.2 TLSv1.3;
                    ssl_session_cache shared:bench:1m;

                """);
        }

        text.Append(CultureInfo.InvariantCulture, $$"""
                location / {
                  proxy_pass {{(spec.UpstreamMtls ? "https" : "http")}}://next;
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";

            """);
        if (spec.UpstreamMtls)
        {
            text.Append(CultureInfo.InvariantCulture, $"""
                      proxy_ssl_certificate {pki.ClientCertPem};
                      proxy_ssl_certificate_key {pki.ClientKeyPem};
                      proxy_ssl_trusted_certificate {pki.CaPem};
                      proxy_ssl_verify on;
                      proxy_ssl_name {TestPki.ServerName};
                      proxy_ssl_session_reuse on;
                      proxy_ssl_protocols TLSv1.2 TLSv1.3;

                """);
        }

        text.Append(CultureInfo.InvariantCulture, $$"""
                }
              }
              server {
                listen 127.0.0.1:{{statusPort}};
                location / { stub_status; }
              }
            }

            """);
        return text.ToString();
    }

    private static async Task<bool> CanConnectAsync(int port, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync("127.0.0.1", port, cancellationToken);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }
}
