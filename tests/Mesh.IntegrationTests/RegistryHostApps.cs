using System.Net;
using Mesh.Registry.Ca;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.IntegrationTests;

/// <summary>
/// What the integration tests add to the shared registry host: meshed apps that join it, and its CA (an internal type
/// the shared host cannot expose).
/// </summary>
internal static class RegistryHostApps
{
    extension(RegistryHost registry)
    {
        public CertificateAuthority Ca => registry.App.Services.GetRequiredService<CertificateAuthority>();

        public string Fingerprint => registry.Ca.ActiveRootFingerprint;

        public string RootFile => registry.Ca.ActiveRootFile;

        /// <summary>
        /// A meshed app (<c>AddMesh()</c>, <c>UseMesh()</c>, <c>/metrics</c>) on a free loopback port that joins this
        /// registry with its service's join token; <paramref name="map"/> adds its endpoints. With <paramref name="time"/> the
        /// app's mesh (lease renewals, the drain delay, certificate checks) runs on that clock. With
        /// <paramref name="replicas"/> the app is configured with those registry replicas (<c>Mesh:Registry:Urls</c>)
        /// instead of this registry's address. <paramref name="extra"/> adds to (or overrides) the app's settings.
        /// </summary>
        public async Task<WebApplication> StartAppAsync(string service, string? version, Action<WebApplication> map, TimeSpan? drain = null,
            TimeProvider? time = null, IReadOnlyList<Uri>? replicas = null, IReadOnlyDictionary<string, string?>? extra = null)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var settings = new Dictionary<string, string?>
            {
                ["Mesh:Service:Name"] = service,
                ["Mesh:Service:Version"] = version,
                ["Mesh:Registry:Token"] = RegistryHost.JoinToken(service),
                ["Mesh:Registry:CacheDirectory"] = string.Empty,
                ["Mesh:Registry:DrainDelay"] = (drain ?? TimeSpan.Zero).ToString(),
            };
            if (replicas is null)
            {
                settings["Mesh:Registry:Url"] = registry.Address.ToString();
            }
            else
            {
                for (var i = 0; i < replicas.Count; i++)
                {
                    settings[$"Mesh:Registry:Urls:{i}"] = replicas[i].ToString();
                }
            }

            foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
            {
                settings[key] = value;
            }

            builder.Configuration.AddInMemoryCollection(settings);
            builder.Services.AddMesh();
            if (time is not null)
            {
                builder.Services.AddSingleton(time);
            }

            var app = builder.Build();
            app.UseMesh();
            app.MapMeshEndpoints();
            map(app);
            await app.StartAsync();
            return app;
        }
    }
}
