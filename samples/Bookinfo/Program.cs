// MeshLib's Bookinfo demo: a registry and the Bookinfo services (productpage, details, reviews v1 x2, v2, v3, ratings),
// each its own Kestrel host on 127.0.0.1 with AddMesh() and its own appsettings.json, plus meshed users sending traffic.
// reviews v2 and v3 call ratings over gRPC (Grpc.Net.Client's factory client with AddServiceMesh(), a Grpc.AspNetCore
// server behind it, HTTP/2 over the mesh's mTLS); every other hop is HTTP/JSON.
//   dotnet run --project samples/Bookinfo                 live view until Ctrl+C; open the dashboard or ingress URL it prints
//   dotnet run --project samples/Bookinfo -- --scenario   the scripted tour; exits 0 when every step's numbers check out
// Options: --requests N (per tour step, 500 by default), --rate R (requests per second, 100 in the tour, 20 live).
using System.Globalization;
using System.Runtime.InteropServices;
using Bookinfo;

var scenario = args.Contains("--scenario");
var requests = Option("--requests") is { } r ? int.Parse(r, CultureInfo.InvariantCulture) : 500;
var rate = Option("--rate") is { } q ? double.Parse(q, CultureInfo.InvariantCulture) : scenario ? 100 : 20;
if (requests <= 0 || rate <= 0)
{
    Console.Error.WriteLine("bookinfo: --requests and --rate must be positive");
    return 2;
}

using var stop = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

int exitCode;
await using (var mesh = await BookinfoMesh.StartAsync())
{
    // What a person can open: the ingress and the dashboard speak plain HTTP; the services speak only mutual TLS with a
    // mesh certificate (Strict), so their ports are listed for reference, not for curl.
    var ingress = mesh.Ingress.Address;
    Console.WriteLine($"ingress:   {new Uri(ingress, "/productpage/1")}   (plain HTTP into the mesh: curl it or open it in a browser)");
    Console.WriteLine($"dashboard: {mesh.DashboardUrl}");
    Console.WriteLine($"registry:  {mesh.RegistryAddress}   (HTTPS from its own CA: curl --cacert {mesh.RegistryCaFile})");
    Console.WriteLine($"registry CA: {mesh.RegistryCaFingerprint}; every service pins it");
    Console.WriteLine("services, mutual TLS only (a plain curl gets an empty reply; use the ingress):");
    foreach (var service in mesh.Services.Where(s => s.Name != "ingress"))
    {
        Console.WriteLine($"  {service.InstanceId,-14} {service.Address.Host}:{service.Address.Port}");
    }

    Console.WriteLine();
    await mesh.WaitForEndpointsAsync("users-1", "productpage", 1, stop.Token);
    await mesh.WaitForEndpointsAsync("ingress-1", "productpage", 1, stop.Token);
    await mesh.WaitForEndpointsAsync("productpage-1", "reviews", 4, stop.Token);
    await mesh.WaitForEndpointsAsync("productpage-1", "details", 1, stop.Token);
    await mesh.WaitForEndpointsAsync("reviews-v2-a", "ratings", 1, stop.Token);
    await mesh.WaitForEndpointsAsync("reviews-v3-a", "ratings", 1, stop.Token);
    var traffic = new TrafficGenerator(mesh.Service("users-1"), rate);
    if (scenario)
    {
        exitCode = await new Scenario(mesh, traffic, requests, Console.Out).RunAsync(stop.Token);
    }
    else
    {
        await Scenario.StartCanaryAsync(mesh, stop.Token);
        Console.WriteLine("reviews: 90% v1, 10% v3 (edit the weights in the dashboard's policy view)");
        var sending = traffic.RunAsync(null, stop.Token);
        await LiveView.RunAsync(mesh, rate, stop.Token);
        await sending;
        exitCode = 0;
    }

    Console.WriteLine("stopping: every service deregisters and stops, then the registry");
}

Console.WriteLine("stopped; all ports closed");
return exitCode;

void Stop(PosixSignalContext context)
{
    // The demo stops its hosts in order itself, then returns; the runtime must not end the process first.
    context.Cancel = true;
    stop.Cancel();
}

string? Option(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
