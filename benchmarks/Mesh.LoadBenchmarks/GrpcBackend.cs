using System.Globalization;
using System.Net;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.LoadBenchmarks;

/// <summary>
/// The gRPC cells' backend, a child process of the load generator (first argument <c>grpc-backend</c>): Grpc.AspNetCore
/// on 127.0.0.1, every listener HTTP/2 only in cleartext (h2c with prior knowledge, as gRPC clients and nginx's
/// <c>grpc_pass</c> speak it). It is a process of its own, not listeners on the HTTP backend, so the HTTP cells'
/// backend keeps its one terminal handler without endpoint routing, and a gRPC cell's backend CPU is read from this
/// process alone. It counts Echo calls and accepted connections per listener (<see cref="BenchRpcService"/>), and
/// speaks the same start and stop protocol as <see cref="Backend"/>: <c>LISTEN &lt;index&gt; &lt;port&gt;</c> per
/// listener, <c>READY</c>, and it stops when its standard input closes.
/// </summary>
internal static class GrpcBackend
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length != 3 || args[1] != "--listeners" ||
            !int.TryParse(args[2], NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count < 1)
        {
            await Console.Error.WriteLineAsync("grpc-backend: expected --listeners <n>");
            return 64;
        }

        var payload = new byte[Backend.ResponseBytes];
        for (var i = 0; i < payload.Length; i++)
        {
            payload[i] = (byte)('a' + (i % 26));
        }

        var counters = new BenchRpcCounters(count, new EchoReply { Payload = ByteString.CopyFrom(payload) });
        var listens = new ListenOptions[count];
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            for (var i = 0; i < count; i++)
            {
                var index = i;
                kestrel.Listen(IPAddress.Loopback, 0, listen =>
                {
                    listens[index] = listen;
                    listen.Protocols = HttpProtocols.Http2;
                    listen.Use(next => connection =>
                    {
                        counters.RecordConnection(index);
                        return next(connection);
                    });
                });
            }
        });
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(counters);

        await using var app = builder.Build();
        app.MapGrpcService<BenchRpcService>();
        await app.StartAsync();

        var ports = new int[count];
        for (var i = 0; i < count; i++)
        {
            ports[i] = listens[i].IPEndPoint!.Port;
        }

        // Nobody knows a port before it is printed, so no call reads the map before it is complete.
        counters.SetPorts(ports);
        for (var i = 0; i < count; i++)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"LISTEN {i} {ports[i]}"));
        }

        Console.WriteLine("READY");
        await Console.Out.FlushAsync();

        await Console.In.ReadToEndAsync();
        await app.StopAsync();
        return 0;
    }
}
