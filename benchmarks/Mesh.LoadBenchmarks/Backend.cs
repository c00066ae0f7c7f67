using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.LoadBenchmarks;

/// <summary>One listener of the backend: plaintext or mTLS, and a fixed delay before it answers <c>/</c>.</summary>
internal sealed record ListenerSpec(bool Mtls, int DelayMilliseconds)
{
    public override string ToString() => (Mtls ? "mtls:" : "plain:") + DelayMilliseconds.ToString(CultureInfo.InvariantCulture);

    public static ListenerSpec Parse(string text)
    {
        var parts = text.Split(':');
        if (parts.Length != 2 || parts[0] is not ("plain" or "mtls") ||
            !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var delay))
        {
            throw new ArgumentException($"--listen {text}: expected plain:<delay ms> or mtls:<delay ms>");
        }

        return new ListenerSpec(parts[0] == "mtls", delay);
    }
}

/// <summary>
/// The backend, run as a child process of the load generator (the same executable, first argument <c>backend</c>), so
/// that the load generator's CPU time is its own. Kestrel on 127.0.0.1, one listener per spec:
/// <c>GET /</c> answers 1,024 bytes after the listener's delay; <c>/fail</c> answers 503 and counts;
/// <c>/stats</c> tells that count; <c>POST /collect</c> collects its garbage (between rounds). It prints
/// <c>LISTEN &lt;index&gt; &lt;port&gt;</c> per listener, then <c>READY</c>, and stops when its standard input
/// closes, so it never outlives the load generator.
/// </summary>
internal static class Backend
{
    public const int ResponseBytes = 1024;
    private static long s_failures;
    private static int s_plainPort;

    public static async Task<int> RunAsync(string[] args)
    {
        var specs = new List<ListenerSpec>();
        string? tlsDirectory = null;
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--listen" when i + 1 < args.Length:
                    specs.Add(ListenerSpec.Parse(args[++i]));
                    break;
                case "--tls-dir" when i + 1 < args.Length:
                    tlsDirectory = args[++i];
                    break;
                default:
                    await Console.Error.WriteLineAsync($"backend: unknown argument {args[i]}");
                    return 64;
            }
        }

        X509Certificate2? serverCertificate = null;
        X509Certificate2? ca = null;
        if (specs.Exists(s => s.Mtls))
        {
            if (tlsDirectory is null)
            {
                await Console.Error.WriteLineAsync("backend: an mtls listener needs --tls-dir");
                return 64;
            }

            serverCertificate = TestPki.LoadPem(Path.Combine(tlsDirectory, TestPki.ServerName + ".crt"), Path.Combine(tlsDirectory, TestPki.ServerName + ".key"));
            ca = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(tlsDirectory, "ca.crt"));
        }

        var payload = new byte[ResponseBytes];
        for (var i = 0; i < payload.Length; i++)
        {
            payload[i] = (byte)('a' + (i % 26));
        }

        // Kestrel picks each port (port 0) and says which afterwards: choosing them here first (bind, close, hand
        // over) could give two listeners the same port, and then the backend would fail to start.
        var listens = new ListenOptions[specs.Count];
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            for (var i = 0; i < specs.Count; i++)
            {
                var spec = specs[i];
                var index = i;
                kestrel.Listen(IPAddress.Loopback, 0, listen =>
                {
                    listens[index] = listen;
                    if (spec.Mtls)
                    {
                        listen.UseHttps(new HttpsConnectionAdapterOptions
                        {
                            ServerCertificate = serverCertificate,
                            ClientCertificateMode = ClientCertificateMode.RequireCertificate,
                            // Only the benchmark's CA: a peer certificate from anywhere else is refused at the handshake.
                            ClientCertificateValidation = (certificate, _, _) => TestPki.ChainsTo(certificate, ca!),
                        });
                    }
                });
            }
        });

        await using var app = builder.Build();
        var delays = new Dictionary<int, int>();
        app.Run(context => HandleAsync(context, payload, Volatile.Read(ref delays)));
        await app.StartAsync();

        // Nobody knows a port before it is printed, so no request reads the delays before they are all in.
        var bound = new Dictionary<int, int>();
        for (var i = 0; i < listens.Length; i++)
        {
            bound[listens[i].IPEndPoint!.Port] = specs[i].DelayMilliseconds;
        }

        Volatile.Write(ref delays, bound);
        Volatile.Write(ref s_plainPort, listens[0].IPEndPoint!.Port); // BenchContext.PlainListener
        for (var i = 0; i < listens.Length; i++)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"LISTEN {i} {listens[i].IPEndPoint!.Port}"));
        }

        Console.WriteLine("READY");
        await Console.Out.FlushAsync();

        // The parent holds our standard input; when it exits for any reason, the pipe closes and we stop.
        await Console.In.ReadToEndAsync();
        await app.StopAsync();
        return 0;
    }

    private static async Task HandleAsync(HttpContext context, byte[] payload, Dictionary<int, int> delays)
    {
        var path = context.Request.Path;
        if (path == "/fail")
        {
            Interlocked.Increment(ref s_failures);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.ContentLength = 0;
            return;
        }

        // Between rounds: the previous variant's garbage and finalizers are not collected on the next one's time. Only on
        // the plain listener, by POST; the backend listens on loopback only and lives for one benchmark run, and a
        // collection changes no answer it gives.
        if (path == "/collect" && HttpMethods.IsPost(context.Request.Method) && context.Connection.LocalPort == Volatile.Read(ref s_plainPort))
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true);
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }

        if (path == "/stats")
        {
            await context.Response.WriteAsync(Interlocked.Read(ref s_failures).ToString(CultureInfo.InvariantCulture));
            return;
        }

        if (delays.TryGetValue(context.Connection.LocalPort, out var delay) && delay > 0)
        {
            await Task.Delay(delay);
        }

        context.Response.ContentType = "application/octet-stream";
        context.Response.ContentLength = payload.Length;
        await context.Response.Body.WriteAsync(payload);
    }

    /// <summary>
    /// <paramref name="count"/> distinct free ports for a process that must be told its ports (nginx). All are held
    /// open until all are chosen, so the same port is never handed out twice; another process may still take one
    /// before nginx binds it, which nginx then reports.
    /// </summary>
    internal static int[] FreePorts(int count)
    {
        var listeners = new TcpListener[count];
        try
        {
            var ports = new int[count];
            for (var i = 0; i < count; i++)
            {
                listeners[i] = new TcpListener(IPAddress.Loopback, 0);
                listeners[i].Start();
                ports[i] = ((IPEndPoint)listeners[i].LocalEndpoint).Port;
            }

            return ports;
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener?.Stop();
            }
        }
    }
}
