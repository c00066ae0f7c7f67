using System.Diagnostics;
using System.Text.Json;

namespace Bookinfo;

/// <summary>What users saw over a stretch of traffic: pages, successes, which reviews version served them, latencies.</summary>
internal sealed class Tally
{
    private readonly Lock _lock = new();
    private readonly List<double> _latenciesMs = [];
    private readonly Dictionary<string, int> _versions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _jasonVersions = new(StringComparer.Ordinal);

    public int Requests { get; private set; }

    public int Succeeded { get; private set; }

    public int JasonRequests { get; private set; }

    /// <summary>Pages whose reviews come from a version that shows stars (v2, v3), and how many of them got their stars.</summary>
    public int StarPages { get; private set; }

    public int StarsShown { get; private set; }

    public double SuccessPercent => Percent(Succeeded, Requests);

    public double StarsShownPercent => Percent(StarsShown, StarPages);

    public void Add(bool jason, TimeSpan latency, ProductPage? page)
    {
        lock (_lock)
        {
            Requests++;
            _latenciesMs.Add(latency.TotalMilliseconds);
            if (jason)
            {
                JasonRequests++;
            }

            if (page is null)
            {
                return;
            }

            Succeeded++;
            var version = page.Reviews.Version;
            var counts = jason ? _jasonVersions : _versions;
            counts[version] = counts.GetValueOrDefault(version) + 1;
            if (page.Reviews.Color is not null)
            {
                StarPages++;
                StarsShown += page.Reviews.Stars is null ? 0 : 1;
            }
        }
    }

    /// <summary>Share of successful pages of everyone but jason (or of jason) served by <paramref name="version"/>.</summary>
    public double VersionPercent(string version, bool jason = false)
    {
        lock (_lock)
        {
            var counts = jason ? _jasonVersions : _versions;
            return Percent(counts.GetValueOrDefault(version), counts.Values.Sum());
        }
    }

    public double PercentileMs(double quantile)
    {
        lock (_lock)
        {
            if (_latenciesMs.Count == 0)
            {
                return 0;
            }

            var sorted = _latenciesMs.Order().ToArray();
            return sorted[Math.Clamp((int)Math.Ceiling(quantile * sorted.Length) - 1, 0, sorted.Length - 1)];
        }
    }

    private static double Percent(int part, int whole) => whole == 0 ? 0 : 100.0 * part / whole;
}

/// <summary>
/// Bookinfo's users: a meshed client of productpage (service <c>users</c>, so the graph shows users → productpage).
/// Every fourth request is signed in as <c>jason</c>. Requests go at a steady pace from a few concurrent workers.
/// </summary>
internal sealed class TrafficGenerator(ServiceHost users, double requestsPerSecond, int workers = 4)
{
    private long _sequence;

    public Tally Current { get; private set; } = new();

    /// <summary>Starts a new tally and returns the finished one.</summary>
    public Tally Swap()
    {
        var done = Current;
        Current = new Tally();
        return done;
    }

    /// <summary>Sends <paramref name="count"/> requests and returns their own tally; with null, sends until cancelled into <see cref="Current"/>.</summary>
    public async Task<Tally> RunAsync(int? count, CancellationToken cancellationToken)
    {
        var tally = count is null ? Current : new Tally();
        var client = users.App.Services.GetRequiredService<IHttpClientFactory>().CreateClient("users");
        var remaining = count ?? long.MaxValue;
        var interval = TimeSpan.FromSeconds(workers / requestsPerSecond);
        var tasks = new List<Task>();
        for (var w = 0; w < workers; w++)
        {
            tasks.Add(Task.Run(async () =>
            {
                using var timer = new PeriodicTimer(interval);
                while (Interlocked.Decrement(ref remaining) >= 0 && !cancellationToken.IsCancellationRequested)
                {
                    await SendOneAsync(client, count is null ? Current : tally, cancellationToken);
                    try
                    {
                        await timer.WaitForNextTickAsync(cancellationToken);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            }, CancellationToken.None));
        }

        await Task.WhenAll(tasks);
        return tally;
    }

    /// <summary>
    /// Sends one request at a time until <paramref name="inARow"/> pages in a row come from reviews
    /// <paramref name="version"/>: the callers route by the newest weights (a 5% share elsewhere lets 50 in a row
    /// through by chance less than one time in ten, and a policy reaches the callers in milliseconds).
    /// </summary>
    public async Task WaitForVersionAsync(string version, int inARow, CancellationToken cancellationToken)
    {
        var client = users.App.Services.GetRequiredService<IHttpClientFactory>().CreateClient("users");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        for (var run = 0; run < inARow;)
        {
            var probe = new Tally();
            await SendOneAsync(client, probe, timeout.Token);
            cancellationToken.ThrowIfCancellationRequested();
            if (timeout.IsCancellationRequested)
            {
                throw new TimeoutException($"Waited 30 s for {inARow} pages in a row from reviews {version}.");
            }

            run = probe.VersionPercent(version) + probe.VersionPercent(version, jason: true) > 0 ? run + 1 : 0;
        }
    }

    private async Task SendOneAsync(HttpClient client, Tally tally, CancellationToken cancellationToken)
    {
        var n = Interlocked.Increment(ref _sequence);
        var jason = n % 4 == 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://productpage/productpage/{n % 100}"));
        if (jason)
        {
            request.Headers.Add(BookinfoApps.EndUserHeader, "jason");
        }

        var started = Stopwatch.GetTimestamp();
        ProductPage? page = null;
        try
        {
            using var response = await client.SendAsync(request, cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                page = await response.Content.ReadFromJsonAsync<ProductPage>(cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return;
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or OperationCanceledException)
        {
            page = null;
        }

        tally.Add(jason, Stopwatch.GetElapsedTime(started), page);
    }
}
