using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Mesh.Client;
using Mesh.Client.Hosting;
using Mesh.Client.Security;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;

namespace Mesh.AspNetCore.Security;


/// <summary>
/// Mesh TLS on a Kestrel endpoint, as a connection middleware. It looks at the first byte of a connection: 0x16 (a TLS
/// handshake record) is terminated here with the workload certificate current at that moment (so a renewal needs no
/// restart: new connections get the new certificate, old ones keep theirs) and a client certificate verified against
/// the trust bundle; anything else is plaintext, served in <see cref="MeshSecurityMode.Permissive"/> and closed in
/// <see cref="MeshSecurityMode.Strict"/>. This is how one port serves both during a migration, which Kestrel's own
/// HTTPS middleware cannot do.
/// </summary>
internal sealed partial class MeshTlsConnectionMiddleware(ConnectionDelegate next, MeshServerSecurity security, HttpProtocols protocols, TimeProvider time,
    ILogger logger)
{
    private const byte TlsHandshakeRecord = 0x16;
    internal static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    public async Task OnConnectionAsync(ConnectionContext context)
    {
        var input = context.Transport.Input;
        ReadResult read;
        // A connection that sends nothing must not hold its slot forever (Kestrel's own timeouts start with HTTP).
        using (var firstByteTimeout = new CancellationTokenSource(HandshakeTimeout, time))
        using (var firstByte = CancellationTokenSource.CreateLinkedTokenSource(context.ConnectionClosed, firstByteTimeout.Token))
        {
            try
            {
                read = await input.ReadAsync(firstByte.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        if (read.Buffer.IsEmpty)
        {
            input.AdvanceTo(read.Buffer.Start);
            return; // closed before a byte
        }

        var first = read.Buffer.FirstSpan[0];
        input.AdvanceTo(read.Buffer.Start); // peeked only: the next reader sees the byte again
        if (first != TlsHandshakeRecord)
        {
            if (security.Mode == MeshSecurityMode.Strict)
            {
                security.RecordPeerRejected("plaintext");
                return;
            }

            await next(context);
            return;
        }

        if (security.BeginHandshake() is not { } handshake)
        {
            LogNoCertificate(logger);
            return;
        }

        var transport = context.Transport;
        var stream = new DuplexPipeStream(transport);
        var ssl = new SslStream(stream, leaveInnerStreamOpen: true);
        MeshPeerFeature? peer = null;
        var peerExpires = DateTimeOffset.MaxValue;
        string? rejection = null;
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = handshake.ServerCertificate,
            ClientCertificateRequired = true,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            ApplicationProtocols = Alpn(protocols),
            RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
            {
                if (certificate is null)
                {
                    // Permissive serves TLS clients without a certificate as anonymous; Strict wants a mesh identity.
                    rejection = security.Mode == MeshSecurityMode.Strict ? "no-certificate" : null;
                    return rejection is null;
                }

                if (!handshake.TryVerifyClient(certificate, chain, out var service, out var version, out var reason))
                {
                    rejection = reason;
                    return false;
                }

                peer = new MeshPeerFeature(service, SpiffeId.For(handshake.TrustDomain, service), version);
                peerExpires = new DateTimeOffset(
                    (certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData())).NotAfter.ToUniversalTime());
                return true;
            },
        };

        try
        {
            using var handshakeTimeout = new CancellationTokenSource(HandshakeTimeout, time);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.ConnectionClosed, handshakeTimeout.Token);
            await ssl.AuthenticateAsServerAsync(options, timeout.Token);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException)
        {
            security.RecordPeerRejected(rejection ?? "handshake-failed");
            await ssl.DisposeAsync();
            return;
        }

        security.RecordHandshake();
        var tls = new TlsFeature(ssl);
        context.Features.Set<ITlsConnectionFeature>(tls);
        context.Features.Set<ITlsHandshakeFeature>(tls);
        context.Features.Set<ITlsApplicationProtocolFeature>(tls);
        if (peer is not null)
        {
            context.Features.Set(peer);
        }

        // The handshake proved the caller once; a connection kept busy lives as long as its caller likes. It ends when
        // the certificate does, so a caller is its service only while its certificate is valid, as a new handshake
        // would judge it.
        using var expiry = peer is null ? null : new PeerExpiry(context, security, time, peerExpires);
        var sslPipe = new SslDuplexPipe(ssl);
        context.Transport = sslPipe;
        try
        {
            await next(context);
        }
        finally
        {
            await sslPipe.CompleteAsync();
            await ssl.DisposeAsync();
            context.Transport = transport;
        }
    }

    private static List<SslApplicationProtocol> Alpn(HttpProtocols protocols) => protocols switch
    {
        HttpProtocols.Http2 => [SslApplicationProtocol.Http2],
        HttpProtocols.Http1AndHttp2 or HttpProtocols.Http1AndHttp2AndHttp3 => [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
        _ => [SslApplicationProtocol.Http11],
    };

    [LoggerMessage(80, LogLevel.Warning, "Mesh TLS: a TLS connection arrived before this workload had a certificate; closed")]
    private static partial void LogNoCertificate(ILogger logger);

    /// <summary>
    /// Aborts a connection when its client certificate expires, on the mesh clock. A timer waits at most about 49.7 days
    /// and a CA may issue for longer, so a wait that ends early starts the next.
    /// </summary>
    private sealed class PeerExpiry : IDisposable
    {
        private static readonly TimeSpan LongestWait = TimeSpan.FromMilliseconds(uint.MaxValue - 1);
        private readonly ConnectionContext _connection;
        private readonly MeshServerSecurity _security;
        private readonly TimeProvider _time;
        private readonly DateTimeOffset _expires;
        private readonly ITimer _timer;

        public PeerExpiry(ConnectionContext connection, MeshServerSecurity security, TimeProvider time, DateTimeOffset expires)
        {
            _connection = connection;
            _security = security;
            _time = time;
            _expires = expires;
            _timer = time.CreateTimer(static state => ((PeerExpiry)state!).Check(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            Check();
        }

        public void Dispose() => _timer.Dispose();

        private void Check()
        {
            var left = _expires - _time.GetUtcNow();
            if (left > TimeSpan.Zero)
            {
                try
                {
                    _timer.Change(left < LongestWait ? left : LongestWait, Timeout.InfiniteTimeSpan);
                }
                catch (ObjectDisposedException)
                {
                    // the connection ended while the timer fired
                }

                return;
            }

            _security.RecordPeerRejected("expired");
            _connection.Abort(new ConnectionAbortedException("The client certificate expired."));
        }
    }

    /// <summary>What ASP.NET Core reads about the connection's TLS: the client certificate, protocol, ALPN result.</summary>
    private sealed class TlsFeature(SslStream ssl) : ITlsConnectionFeature, ITlsHandshakeFeature, ITlsApplicationProtocolFeature
    {
        public X509Certificate2? ClientCertificate
        {
            get => ssl.RemoteCertificate as X509Certificate2 ?? (ssl.RemoteCertificate is { } c ? X509CertificateLoader.LoadCertificate(c.GetRawCertData()) : null);
            set => throw new NotSupportedException();
        }

        public Task<X509Certificate2?> GetClientCertificateAsync(CancellationToken cancellationToken) => Task.FromResult(ClientCertificate);

        public SslProtocols Protocol => ssl.SslProtocol;

        public TlsCipherSuite? NegotiatedCipherSuite => ssl.NegotiatedCipherSuite;

        public string HostName => ssl.TargetHostName;

#pragma warning disable SYSLIB0058 // the older members are part of the interface
        public CipherAlgorithmType CipherAlgorithm => ssl.CipherAlgorithm;

        public int CipherStrength => ssl.CipherStrength;

        public HashAlgorithmType HashAlgorithm => ssl.HashAlgorithm;

        public int HashStrength => ssl.HashStrength;

        public ExchangeAlgorithmType KeyExchangeAlgorithm => ssl.KeyExchangeAlgorithm;

        public int KeyExchangeStrength => ssl.KeyExchangeStrength;
#pragma warning restore SYSLIB0058

        public ReadOnlyMemory<byte> ApplicationProtocol => ssl.NegotiatedApplicationProtocol.Protocol;
    }

    /// <summary>The decrypted side of the connection as the pipe Kestrel's HTTP layer reads and writes.</summary>
    private sealed class SslDuplexPipe(SslStream ssl) : IDuplexPipe
    {
        public PipeReader Input { get; } = PipeReader.Create(ssl, new StreamPipeReaderOptions(leaveOpen: true));

        public PipeWriter Output { get; } = PipeWriter.Create(ssl, new StreamPipeWriterOptions(leaveOpen: true));

        public async ValueTask CompleteAsync()
        {
            await Input.CompleteAsync();
            await Output.CompleteAsync();
        }
    }

    /// <summary>The raw connection's pipes as one stream, for <see cref="SslStream"/> to run over.</summary>
    private sealed class DuplexPipeStream(IDuplexPipe pipe) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (true)
            {
                var result = await pipe.Input.ReadAsync(cancellationToken);
                var data = result.Buffer;
                if (!data.IsEmpty)
                {
                    var count = (int)Math.Min(data.Length, buffer.Length);
                    data.Slice(0, count).CopyTo(buffer.Span);
                    pipe.Input.AdvanceTo(data.GetPosition(count));
                    return count;
                }

                pipe.Input.AdvanceTo(data.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return 0;
                }
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await pipe.Output.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async Task FlushAsync(CancellationToken cancellationToken) => await pipe.Output.FlushAsync(cancellationToken);

        public override void Flush() => FlushAsync().GetAwaiter().GetResult();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
