using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Mesh.Client.Security;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.IntegrationTests;

/// <summary>
/// A certificate answer the workload cannot use (signed for another key than the one it holds) is a failed renewal
/// like any other: retried with backoff, never the end of renewals, which would leave the certificate in hand to expire.
/// </summary>
public sealed class CertificateAnswerTests
{
    [Fact]
    public async Task A_certificate_for_another_key_is_refused_and_the_request_retried()
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var swap = new FirstCsrSwap();
        await using var registry = await RegistryHost.StartAsync(time, services: ["productpage"], configureServices: s => s.AddSingleton<IStartupFilter>(swap));
        await using var mesh = MeshTestClient.Create(new
        {
            Service = new { Name = "productpage" },
            Registry = new { Url = registry.Address, Token = RegistryHost.JoinToken("productpage"), Register = false, CacheDirectory = string.Empty },
        }, time);
        var identity = (RegistryWorkloadIdentity)mesh.GetService<MeshSecurity>().Identity!;

        await Poll.UntilAsync(() =>
        {
            if (identity.Current is null)
            {
                time.Advance(TimeSpan.FromMilliseconds(500));
            }

            return identity.Current is not null;
        }, TimeSpan.FromSeconds(30), "the request is retried after the unusable answer");
        swap.Swapped.ShouldBe(1);
        identity.Current!.Certificate.HasPrivateKey.ShouldBeTrue();
        mesh.Logs.GetSnapshot().ShouldContain(e => e.Message.Contains("another key", StringComparison.Ordinal));
    }

    /// <summary>Replaces the first CSR the registry receives with one for a key the workload does not hold.</summary>
    private sealed class FirstCsrSwap : IStartupFilter
    {
        private int _swapped;

        public int Swapped => Volatile.Read(ref _swapped);

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, nextMiddleware) =>
            {
                if (HttpMethods.IsPost(context.Request.Method) && context.Request.Path == "/v1/certificates" && Interlocked.CompareExchange(ref _swapped, 1, 0) == 0)
                {
                    using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
                    var csr = new CertificateRequest("CN=productpage", other, HashAlgorithmName.SHA256).CreateSigningRequestPem();
                    var body = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Dictionary<string, string> { ["csr"] = csr }));
                    context.Request.Body = new MemoryStream(body);
                    context.Request.ContentLength = body.Length;
                }

                await nextMiddleware(context);
            });
            next(app);
        };
    }
}
