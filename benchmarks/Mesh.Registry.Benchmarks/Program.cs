using Mesh.Registry.Benchmarks;

var settings = Settings.Parse(args, Console.Error);
if (settings is null)
{
    return 64;
}

// Every phase is bounded on its own; this bounds the whole run, whatever state it is in.
using var cancel = new CancellationTokenSource(settings.Deadline);
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

var bench = new Bench(settings, Console.Out);

// The registry is killed and its folder deleted however this process ends: normally, on an exception, on Ctrl+C
// (through the cancellation above) or on SIGTERM (ProcessExit).
AppDomain.CurrentDomain.ProcessExit += (_, _) => bench.Dispose();
try
{
    return await bench.RunAsync(cancel.Token);
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    Console.Error.WriteLine($"Cancelled (the run's deadline is {settings.Deadline}).");
    return 1;
}
finally
{
    bench.Dispose();
}
