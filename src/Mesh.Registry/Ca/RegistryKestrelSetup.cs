using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;

namespace Mesh.Registry.Ca;

/// <summary>
/// Every HTTPS endpoint of the registry (from <c>--urls https://…</c>, configuration, or <c>Listen(…).UseHttps()</c>)
/// serves <see cref="RegistryServerCertificate"/> with its root, and asks for a client certificate without requiring
/// one: bootstrap calls come with a join token, later ones with the workload's mesh certificate, which
/// <see cref="RegistryCertificateAuth"/> checks against the CA's own roots per request.
/// </summary>
internal sealed class RegistryKestrelSetup(IServiceProvider services) : IConfigureOptions<KestrelServerOptions>
{
    // Resolved at the first handshake, not when Kestrel is built: bad options then fail the start, as they always have,
    // not the host's construction.
    private readonly Lazy<RegistryServerCertificate> _certificate = new(services.GetRequiredService<RegistryServerCertificate>);

    /// <summary>
    /// Registers the setup first among Kestrel's: <c>Listen(…).UseHttps()</c> reads the HTTPS defaults as soon as it
    /// runs, so they must be in place before any other Kestrel configuration.
    /// </summary>
    public static void Add(IServiceCollection services)
    {
        if (!services.Any(d => d.ImplementationType == typeof(RegistryKestrelSetup)))
        {
            services.Insert(0, ServiceDescriptor.Singleton<IConfigureOptions<KestrelServerOptions>, RegistryKestrelSetup>());
        }
    }

    public void Configure(KestrelServerOptions options) => options.ConfigureHttpsDefaults(https =>
    {
        // Kestrel needs a certificate or a selector to accept the endpoint; OnAuthenticate then hands over the context
        // built once per certificate rather than one per handshake.
        https.ServerCertificateSelector = (_, _) => _certificate.Value.Certificate;
        https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
        https.ClientCertificateValidation = static (_, _, _) => true;
        https.OnAuthenticate = (_, ssl) =>
        {
            ssl.ServerCertificateSelectionCallback = null;
            ssl.ServerCertificate = null;
            ssl.ServerCertificateContext = _certificate.Value.Context;
        };
    });
}
