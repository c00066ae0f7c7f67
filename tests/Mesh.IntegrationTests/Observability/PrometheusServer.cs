using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Mesh.IntegrationTests.Observability;

/// <summary>
/// A real Prometheus server (the Debian package's binary) scraping one target on loopback every second, with its
/// storage in a temporary folder. Disposing kills the process and removes the folder.
/// </summary>
internal sealed class PrometheusServer : IDisposable
{
    private readonly Process _process;
    private readonly string _directory;
    private readonly HttpClient _http;

    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _log;

    private PrometheusServer(Process process, string directory, Uri address, System.Collections.Concurrent.ConcurrentQueue<string> log)
    {
        _log = log;
        _process = process;
        _directory = directory;
        Address = address;
        _http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };
    }

    public Uri Address { get; }

    public static PrometheusServer Start(Uri target) => Start($"""
        scrape_configs:
          - job_name: mesh
            scrape_interval: 1s
            scrape_timeout: 900ms
            static_configs:
              - targets: ['{target.Authority}']
        """);

    /// <summary>
    /// Prometheus discovering its targets with <c>http_sd_configs</c> at <paramref name="discovery"/> (refreshed every
    /// second), sending <paramref name="token"/> as its bearer credential, and scraping each every second.
    /// </summary>
    public static PrometheusServer StartWithHttpDiscovery(Uri discovery, string token) => Start($"""
        scrape_configs:
          - job_name: mesh
            scrape_interval: 1s
            scrape_timeout: 900ms
            http_sd_configs:
              - url: '{discovery}'
                refresh_interval: 1s
                authorization:
                  type: Bearer
                  credentials: '{token}'
        """);

    /// <summary>Prometheus with <paramref name="scrapeConfigs"/> (the <c>scrape_configs:</c> part of its configuration).</summary>
    public static PrometheusServer Start(string scrapeConfigs)
    {
        var directory = Directory.CreateTempSubdirectory("mesh-prometheus-").FullName;
        var config = Path.Combine(directory, "prometheus.yml");
        File.WriteAllText(config, $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            {scrapeConfigs}
            """);
        var port = FreePort();
        var start = new ProcessStartInfo("prometheus")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--config.file=" + config);
        start.ArgumentList.Add("--storage.tsdb.path=" + Path.Combine(directory, "data"));
        start.ArgumentList.Add("--web.listen-address=127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture));
        start.ArgumentList.Add("--log.level=warn");
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var process = Process.Start(start) ?? throw new InvalidOperationException("prometheus did not start; is the Debian package prometheus installed?");
        process.OutputDataReceived += (_, e) => Keep(log, e.Data);
        process.ErrorDataReceived += (_, e) => Keep(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new PrometheusServer(process, directory, new Uri($"http://127.0.0.1:{port}"), log);
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The last lines Prometheus logged (warnings and errors), for a failing test to show.</summary>
    public string Log => string.Join(Environment.NewLine, _log);

    private static void Keep(System.Collections.Concurrent.ConcurrentQueue<string> log, string? line)
    {
        if (line is null)
        {
            return;
        }

        log.Enqueue(line);
        while (log.Count > 50 && log.TryDequeue(out _))
        {
        }
    }

    /// <summary>An instant query; the result vector as (labels, value) pairs, or empty while Prometheus is not ready.</summary>
    public async Task<List<(Dictionary<string, string> Labels, string Value)>> QueryAsync(string query)
    {
        var result = new List<(Dictionary<string, string>, string)>();
        try
        {
            using var response = await _http.GetAsync(new Uri("/api/v1/query?query=" + Uri.EscapeDataString(query), UriKind.Relative));
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return result;
            }

            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            foreach (var item in json.RootElement.GetProperty("data").GetProperty("result").EnumerateArray())
            {
                var labels = item.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? string.Empty);
                result.Add((labels, item.GetProperty("value")[1].GetString()!));
            }
        }
        catch (HttpRequestException)
        {
            // not listening yet
        }

        return result;
    }

    /// <summary>The active targets (<c>/api/v1/targets</c>): each one's labels and health; empty while Prometheus is not ready.</summary>
    public async Task<List<(Dictionary<string, string> Labels, string Health, string ScrapeUrl)>> ActiveTargetsAsync()
    {
        var result = new List<(Dictionary<string, string>, string, string)>();
        try
        {
            using var response = await _http.GetAsync(new Uri("/api/v1/targets?state=active", UriKind.Relative));
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return result;
            }

            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            foreach (var item in json.RootElement.GetProperty("data").GetProperty("activeTargets").EnumerateArray())
            {
                var labels = item.GetProperty("labels").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? string.Empty);
                result.Add((labels, item.GetProperty("health").GetString()!, item.GetProperty("scrapeUrl").GetString()!));
            }
        }
        catch (HttpRequestException)
        {
            // not listening yet
        }

        return result;
    }

    public void Dispose()
    {
        _http.Dispose();
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        finally
        {
            _process.Dispose();
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
