using System.IO.Pipelines;
using Mesh.AspNetCore.Security;
using Mesh.Client.Hosting;
using Mesh.Testing;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.AspNetCore.Tests.Security;

/// <summary>The mesh TLS connection middleware's timeouts run on the injected clock, not the machine's.</summary>
public sealed class MeshTlsTimeoutTests
{
    [Fact]
    public async Task A_connection_that_sends_nothing_is_closed_when_the_injected_clock_passes_the_timeout()
    {
        // FakeTimeProvider will do: one thread moves the clock, and nothing reads it inside a callback.
        var time = new FakeTimeProvider();
        await using var mesh = MeshTestClient.Create(new { Service = new { Name = "reviews" } }, time);
        var nextCalled = false;
        var middleware = new MeshTlsConnectionMiddleware(_ =>
        {
            nextCalled = true;
            return Task.CompletedTask;
        }, mesh.GetService<MeshServerSecurity>(), HttpProtocols.Http1AndHttp2, time, NullLogger.Instance);

        // Inline schedulers and no synchronization context (xunit installs one): a cancelled read resumes the middleware
        // on the thread that cancelled it, so the connection's task is complete when Advance returns, and a timeout on
        // any other clock would leave it running.
        var inline = new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false);
        var toServer = new Pipe(inline);
        var fromServer = new Pipe(inline);
        var context = new DefaultConnectionContext("silent", new Duplex(toServer.Reader, fromServer.Writer), new Duplex(fromServer.Reader, toServer.Writer));

        var connection = middleware.OnConnectionAsync(context);
        time.Advance(MeshTlsConnectionMiddleware.HandshakeTimeout - TimeSpan.FromMilliseconds(1));
        connection.IsCompleted.ShouldBeFalse("the connection may still send its first byte");

        time.Advance(TimeSpan.FromMilliseconds(1));
        connection.IsCompleted.ShouldBeTrue("the timeout fired on the injected clock");
        await connection;
        nextCalled.ShouldBeFalse();

        await toServer.Writer.CompleteAsync();
        await fromServer.Writer.CompleteAsync();
    }

    private sealed record Duplex(PipeReader Input, PipeWriter Output) : IDuplexPipe;
}
