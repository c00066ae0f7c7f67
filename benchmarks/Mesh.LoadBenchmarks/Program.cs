using System.Globalization;
using Mesh.Benchmarks.Shared;
using Mesh.LoadBenchmarks;

if (args.Length > 0 && args[0] == "backend")
{
    return await Backend.RunAsync(args);
}

if (args.Length > 0 && args[0] == "grpc-backend")
{
    return await GrpcBackend.RunAsync(args);
}

if (args.Length > 0 && args[0] == "cpu-report")
{
    return await CpuReport.RunAsync(args, Console.Out, Console.Error);
}

if (args.Length > 0 && args[0] == "chart")
{
    return await ResultsChart.RunAsync(args, Console.Out, Console.Error);
}

var settings = Settings.Parse(args, Console.Error);
if (settings is null)
{
    return 64;
}

using var cancel = new CancellationTokenSource(settings.Deadline);
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

var machine = Machine.Describe();
Console.WriteLine($"MeshLib load benchmark ({(settings.Smoke ? "smoke" : "full")}): {machine.Cpu}, {machine.Cores} cores, load average {machine.LoadAverageStart}");
using var ctx = await BenchContext.StartAsync(settings.BalancerEndpoints, settings.BalancerDelayMs, cancel.Token);

// nginx and the backend are killed and the temporary folder deleted however this process ends.
AppDomain.CurrentDomain.ProcessExit += (_, _) => ctx.Dispose();

// One measured round of a variant: the backend starts it on a collected heap, as the load generator does in
// RunRoundAsync, and the variant's backend and proxies are read for CPU beside the client.
// A gRPC variant's round is read against its own backend process, and checked against that backend's call counts.
async Task MeasureRoundAsync(BenchClient client, int concurrency, PreparedVariant ready, CellAccumulator cell, AllocationSampler? sampler = null)
{
    var grpc = ready.GrpcBackend;
    if (grpc is null)
    {
        await ctx.CollectBackendGarbageAsync(cancel.Token);
        await LoadRunner.RunRoundAsync(client, concurrency, settings.Warmup, settings.Duration, new CpuProbe(ctx.Backend.Pid, ready.ProxyCpu), cell, cancel.Token, sampler);
        return;
    }

    await grpc.CollectGarbageAsync(cancel.Token);
    var before = await grpc.StatsAsync(cancel.Token);
    var completed = cell.Completed;
    await LoadRunner.RunRoundAsync(client, concurrency, settings.Warmup, settings.Duration, new CpuProbe(grpc.Pid, ready.ProxyCpu), cell, cancel.Token, sampler);
    cell.RecordDelivery(ready.GrpcListeners, before, await grpc.StatsAsync(cancel.Token), cell.Completed - completed);
}

try
{
    var report = new Report(settings, machine);
    var prepared = new List<(Variant Variant, PreparedVariant Prepared)>();
    foreach (var variant in Variants.All)
    {
        var wanted = settings.Includes(variant) || Array.Exists(Variants.All, v => v.Floor == variant.Name && settings.Includes(v));
        if (!wanted)
        {
            continue;
        }

        if (variant.Prepare is null)
        {
            report.Pending.Add(new PendingVariant(variant.Name, variant.Description, variant.PendingReason ?? "not built"));
            Console.WriteLine($"{variant.Name}: pending ({variant.PendingReason})");
            continue;
        }

        prepared.Add((variant, await variant.Prepare(ctx, cancel.Token)));
    }

    // Everything JIT-compiled and every connection pool and nginx worker exercised before anything is measured.
    foreach (var (_, ready) in prepared)
    {
        using var client = ready.NewClient();
        await LoadRunner.RunClosedAsync("warm-up", client, 8, TimeSpan.Zero, settings.Warmup, CpuProbe.ClientOnly, cancel.Token);
    }

    // Concurrency outermost, and each cell measured in rounds that alternate between the variants: a variant and its
    // floor see the same background load on a shared machine.
    foreach (var concurrency in settings.Concurrency)
    {
        var cells = new List<(Variant Variant, PreparedVariant Ready, BenchClient Client, CellAccumulator Cell, long Accepts)>();
        try
        {
            foreach (var (variant, ready) in prepared)
            {
                var accepts = await ready.TlsListenerAcceptsAsync(cancel.Token);
                cells.Add((variant, ready, ready.NewClient(), new CellAccumulator(), accepts));
            }

            // Each round starts at a different variant: whatever the one before leaves behind (its garbage, nginx
            // workers winding down, a busy core) falls on a different variant each round rather than always on the
            // first, which is the floor.
            var stride = Math.Max(1, cells.Count / settings.Rounds);
            for (var round = 0; round < settings.Rounds; round++)
            {
                for (var k = 0; k < cells.Count; k++)
                {
                    var (_, ready, client, accumulator, _) = cells[(k + (round * stride)) % cells.Count];
                    await MeasureRoundAsync(client, concurrency, ready, accumulator);
                }
            }

            foreach (var (variant, ready, client, accumulator, accepts0) in cells)
            {
                var cell = accumulator.ToResult(variant.Name, concurrency, client.ConnectionsOpened);
                var accepts1 = await ready.TlsListenerAcceptsAsync(cancel.Token);
                if (ready.ClientLegTls || ready.TlsListeners.Count > 0)
                {
                    var handshakes = (ready.ClientLegTls ? client.ConnectionsOpened : 0) + (accepts1 - accepts0);
                    cell.TlsHandshakesPer10k = cell.CellRequests == 0 ? 0 : handshakes * 10_000.0 / cell.CellRequests;
                }

                report.Cells.Add(cell);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{variant.Name,-16} c={concurrency,-3} {cell.RequestsPerSecond,8:F0} req/s  p50 {cell.P50Us,8:F1} µs  p90 {cell.P90Us,8:F1} µs  p99 {cell.P99Us,8:F1} µs  client CPU {cell.ClientCpuMsPer1k,6:F1} ms/1k  backend {cell.BackendCpuMsPer1k,6:F1}  proxy {cell.ProxyCpuMsPer1k,6:F1}  machine {cell.MachineCpuMsPer1k,6:F1} ({cell.MachineBusyPercent:F0} % busy, {cell.StealPercent:F1} % steal)  work items/req {cell.WorkItemsPerRequest:F2}  conns {cell.ClientConnections}{(cell.BackendConnections is { } accepted ? $" (backend accepted {accepted})" : string.Empty)}  errors {cell.Errors}{(cell.FirstError is null ? string.Empty : " (" + cell.FirstError + ")")}"));
            }
        }
        finally
        {
            foreach (var (_, _, client, _, _) in cells)
            {
                client.Dispose();
            }
        }
    }

    report.ComputeAdded(Variants.All);
    if (settings.Profile)
    {
        // Bytes per request by type, one variant at a time at concurrency 8 (the sampler itself costs a little CPU,
        // so this is a separate pass from the timed cells above).
        foreach (var (variant, ready) in prepared)
        {
            using var client = ready.NewClient();
            using var sampler = new AllocationSampler();
            var cell = new CellAccumulator();
            await MeasureRoundAsync(client, 8, ready, cell, sampler);
            var result = cell.ToResult(variant.Name, 8, client.ConnectionsOpened);
            report.Allocations[variant.Name] = sampler.BytesPerRequest(result.AllocatedBytesPerRequest);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"allocations {variant.Name,-16} {result.AllocatedBytesPerRequest,6:F0} B per request"));
        }
    }

    if (settings.Balancer && settings.Includes("balancer"))
    {
        report.Balancer.AddRange(await Scenarios.BalancerAsync(ctx, settings, Console.Out, cancel.Token));
    }

    if (settings.Retry && settings.Includes("retry"))
    {
        report.Retry.AddRange(await Scenarios.RetryAmplificationAsync(ctx, settings, Console.Out, cancel.Token));
    }

    report.Finish();
    Console.WriteLine();
    Console.WriteLine(report.Markdown());
    var output = settings.Output ?? (settings.Smoke ? null : Report.DefaultPath(settings.Profile ? "profile" : "full"));
    if (output is not null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        var json = report.Json();
        await File.WriteAllTextAsync(output, json, cancel.Token);
        Console.WriteLine($"results: {output}");
        if (!settings.Profile)
        {
            // The report's chart, drawn from exactly what was just written.
            var chart = Path.ChangeExtension(output, ".svg");
            using var written = System.Text.Json.JsonDocument.Parse(json);
            await File.WriteAllTextAsync(chart, ResultsChart.Svg(written.RootElement), cancel.Token);
            Console.WriteLine($"chart: {chart}");
        }
    }

    var problems = report.Problems();
    foreach (var problem in problems)
    {
        Console.Error.WriteLine("error: " + problem);
    }

    return problems.Count == 0 ? 0 : 1;
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    Console.Error.WriteLine($"Cancelled (the run's deadline is {settings.Deadline}).");
    return 1;
}
