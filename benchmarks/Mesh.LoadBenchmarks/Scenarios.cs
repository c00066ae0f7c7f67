using System.Diagnostics;
using System.Globalization;

namespace Mesh.LoadBenchmarks;

/// <summary>One balancer run: a policy over healthy endpoints or with one of them 10× slower.</summary>
internal sealed record BalancerResult(string Policy, bool OneSlow, int Concurrency, long Requests, long Errors,
    double RequestsPerSecond, double P50Us, double P90Us, double P99Us, double MaxUs, double LastEndpointSharePercent);

/// <summary>One retry amplification run against a dependency that always answers 503.</summary>
internal sealed record RetryResult(string Budget, int OfferedPerSecond, double Seconds, long Requests, long Failed,
    long Attempts, double AttemptsPerRequest, long BudgetSeconds, double AllowedAttempts, double AllowedPerRequest);

internal static class Scenarios
{
    public static readonly string[] BalancerPolicies = ["RoundRobin", "LeastRequest", "PeakEwma"];

    /// <summary>
    /// Balancer quality: a meshed client over 10 endpoints that answer after d ms; in the second run one of them answers
    /// after 10 d. Each policy, healthy and with the slow endpoint, same concurrency.
    /// </summary>
    public static async Task<List<BalancerResult>> BalancerAsync(BenchContext ctx, Settings settings, TextWriter log, CancellationToken cancellationToken)
    {
        var results = new List<BalancerResult>();
        foreach (var oneSlow in new[] { false, true })
        {
            foreach (var policy in BalancerPolicies)
            {
                var endpoints = new List<Uri>();
                for (var i = 0; i < ctx.BalancerEndpoints; i++)
                {
                    // With one slow endpoint, the last healthy one is swapped for it: still 10 endpoints.
                    endpoints.Add(oneSlow && i == ctx.BalancerEndpoints - 1 ? ctx.BalancerUri(ctx.BalancerEndpoints) : ctx.BalancerUri(i));
                }

                var counter = new BenchClient.PortCounter();
                using var client = BenchClient.Mesh(endpoints, s => s["Mesh:Services:backend:LoadBalancer:Policy"] = policy, underMesh: counter);
                var cell = await LoadRunner.RunClosedAsync(policy, client, settings.BalancerConcurrency, settings.BalancerWarmup,
                    settings.BalancerDuration, CpuProbe.ClientOnly, cancellationToken, counter.Reset);

                // The share of the measured window's attempts that went to the last endpoint: the slow one in the second run.
                long all = 0;
                foreach (var endpoint in endpoints)
                {
                    all += counter[endpoint.Port];
                }

                var lastShare = all == 0 ? 0 : 100.0 * counter[endpoints[^1].Port] / all;
                var result = new BalancerResult(policy, oneSlow, cell.Concurrency, cell.Requests, cell.Errors, cell.RequestsPerSecond,
                    cell.P50Us, cell.P90Us, cell.P99Us, cell.MaxUs, lastShare);
                results.Add(result);
                await log.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"balancer {policy,-12} {(oneSlow ? "one slow" : "healthy "),-8} c={cell.Concurrency} {cell.RequestsPerSecond,8:F0} req/s  p50 {cell.P50Us / 1000,7:F2} ms  p90 {cell.P90Us / 1000,7:F2} ms  p99 {cell.P99Us / 1000,7:F2} ms  last endpoint {lastShare,5:F2} %  errors {cell.Errors}{(cell.FirstError is null ? string.Empty : " (" + cell.FirstError + ")")}"));
            }
        }

        return results;
    }

    /// <summary>
    /// Retry amplification: a meshed client with two retries on 5xx offers <c>rate</c> requests per second (open loop:
    /// requests are sent on schedule whatever the answers) to an endpoint that always answers 503, with the default
    /// retry budget (0.2 of requests + 10/s, with 100 in reserve) and with an unbounded one. The circuit breaker and outlier detection are
    /// off, so the budget alone limits the retries. Attempts are counted by the backend.
    /// </summary>
    public static async Task<List<RetryResult>> RetryAmplificationAsync(BenchContext ctx, Settings settings, TextWriter log, CancellationToken cancellationToken)
    {
        var results = new List<RetryResult>();
        foreach (var withBudget in new[] { true, false })
        {
            var start = Stopwatch.GetTimestamp();
            using var client = BenchClient.Mesh([ctx.PlainUri], s =>
            {
                s["Mesh:Services:backend:Routes:0:Name"] = "default";
                s["Mesh:Services:backend:Routes:0:Retry:Attempts"] = "2";
                s["Mesh:Services:backend:Routes:0:Retry:RetryOn:0"] = "5xx";
                s["Mesh:Services:backend:CircuitBreaker:Enabled"] = "false";
                s["Mesh:Services:backend:OutlierDetection:Consecutive5xxErrors"] = "0";
                s["Mesh:Services:backend:RetryBudget:RetryRatio"] = withBudget ? "0.2" : "1000";
                s["Mesh:Services:backend:RetryBudget:MinRetriesPerSecond"] = "10";
            }, path: "/fail");

            var before = await FailuresAsync(ctx, cancellationToken);
            var (requests, failed, end) = await OpenLoopAsync(client, settings.RetryRate, settings.RetryDuration, cancellationToken);
            var attempts = await FailuresAsync(ctx, cancellationToken) - before;

            // The budget counts in whole seconds of the mesh's clock: a partial first and last second each earn the full
            // 10 retries, so they are counted as whole seconds here too. A new client also starts with the reserve,
            // 10/s × the 10 s Ttl, which is 10 seconds' worth more.
            var budgetSeconds = (end / Stopwatch.Frequency) - (start / Stopwatch.Frequency) + 1;
            var allowed = withBudget ? (1.2 * requests) + (10.0 * (budgetSeconds + 10)) : 3.0 * requests;
            var result = new RetryResult(withBudget ? "0.2 + 10/s (default)" : "none (ratio 1000)", settings.RetryRate,
                Stopwatch.GetElapsedTime(start, end).TotalSeconds, requests, failed, attempts, (double)attempts / requests,
                budgetSeconds, allowed, allowed / requests);
            results.Add(result);
            await log.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"retry budget {result.Budget,-22} {requests} requests, {attempts} attempts: {result.AttemptsPerRequest:F3} per request (bound {result.AllowedPerRequest:F3}, {budgetSeconds} budget seconds)"));
        }

        return results;
    }

    private static async Task<long> FailuresAsync(BenchContext ctx, CancellationToken cancellationToken)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false });
        var text = await http.GetStringAsync(new Uri(ctx.PlainUri, "/stats"), cancellationToken);
        return long.Parse(text, CultureInfo.InvariantCulture);
    }

    private static async Task<(long Requests, long Failed, long End)> OpenLoopAsync(BenchClient client, int rate, TimeSpan duration, CancellationToken cancellationToken)
    {
        var total = (long)(rate * duration.TotalSeconds);
        var tasks = new List<Task<bool>>((int)total);
        var start = Stopwatch.GetTimestamp();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(5));
        long sent = 0;
        while (sent < total)
        {
            // Whatever the timer's jitter, the number sent so far follows the schedule: rate × elapsed.
            var due = Math.Min(total, (long)(Stopwatch.GetElapsedTime(start).TotalSeconds * rate) + 1);
            for (; sent < due; sent++)
            {
                tasks.Add(SendAsync(client, cancellationToken));
            }

            await timer.WaitForNextTickAsync(cancellationToken);
        }

        var outcomes = await Task.WhenAll(tasks);
        var end = Stopwatch.GetTimestamp();
        long failed = 0;
        foreach (var ok in outcomes)
        {
            if (!ok)
            {
                failed++;
            }
        }

        return (total, failed, end);
    }

    /// <summary>True when the call answered 2xx (never here: the dependency always fails).</summary>
    private static async Task<bool> SendAsync(BenchClient client, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await client.Http.GetAsync(client.Uri, cancellationToken);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }
}
