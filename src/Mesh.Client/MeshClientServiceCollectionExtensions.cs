using Mesh.Client;
using Mesh.Client.Configuration;
using Mesh.Client.Discovery;
using Mesh.Client.Hosting;
using Mesh.Client.Http;
using Mesh.Client.Internal;
using Mesh.Client.Registry;
using Mesh.Client.Runtime;
using Mesh.Client.Security;
using Mesh.Client.Startup;
using Mesh.Client.Status;
using Mesh.Client.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the mesh client for hosts without ASP.NET Core (worker services, console apps).</summary>
public static class MeshClientServiceCollectionExtensions
{
    /// <summary>
    /// Adds the mesh, bound to the <c>Mesh</c> section of the registered <see cref="IConfiguration"/>, and meshes every
    /// <c>IHttpClientFactory</c> client. Configuration is validated when the host starts; reloads are validated too.
    /// </summary>
    public static IServiceCollection AddMeshClient(this IServiceCollection services, Action<MeshOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        AddMeshCore(services, section: null, configure);
        services.ConfigureHttpClientDefaults(static builder => builder.AddServiceMesh());
        return services;
    }

    /// <summary>Adds the mesh bound to the given configuration section, and meshes every <c>IHttpClientFactory</c> client.</summary>
    public static IServiceCollection AddMeshClient(this IServiceCollection services, IConfigurationSection section, Action<MeshOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(section);
        AddMeshCore(services, section, configure);
        services.ConfigureHttpClientDefaults(static builder => builder.AddServiceMesh());
        return services;
    }

    /// <summary>
    /// Registers the mesh's services without meshing any client; <c>AddServiceMesh()</c> then meshes chosen clients.
    /// Safe to call more than once.
    /// </summary>
    internal static IServiceCollection AddMeshCore(IServiceCollection services, IConfigurationSection? section, Action<MeshOptions>? configure)
    {
        if (!services.Any(d => d.ServiceType == typeof(MeshMarker)))
        {
            services.AddSingleton<MeshMarker>();
            services.AddHttpClient();
            services.AddMetrics();
            services.AddLogging();
            services.TryAddSingleton(TimeProvider.System);
            services.TryAddSingleton(RandomSource.Shared);
            services.TryAddSingleton<MeshTelemetry>();
            services.TryAddSingleton(sp => new ConfigurationFileFailures(sp.GetService<IConfiguration>()));
            services.TryAddSingleton<MeshRuntime>();
            services.TryAddSingleton(sp => new MeshInbound(sp.GetRequiredService<MeshRuntime>()));
            services.TryAddSingleton<RegistryTransport>();
            services.TryAddSingleton<RegistryDiscoverySource>();
            services.AddSingleton<IEndpointSource>(sp => sp.GetRequiredService<RegistryDiscoverySource>());
            services.AddSingleton<IPolicySource>(sp => sp.GetRequiredService<RegistryDiscoverySource>());
            services.TryAddSingleton<Mesh.Client.Discovery.Consul.ConsulEndpointSource>();
            services.AddSingleton<IEndpointSource>(sp => sp.GetRequiredService<Mesh.Client.Discovery.Consul.ConsulEndpointSource>());
            services.TryAddSingleton<RegistryWorkloadIdentity>();
            services.TryAddSingleton<MeshSecurity>();
            services.TryAddSingleton(sp => new MeshServerSecurity(sp.GetRequiredService<MeshSecurity>()));
            services.TryAddSingleton(sp => new MeshInstanceRegistry(sp.GetRequiredService<RegistryTransport>()));
            services.TryAddSingleton(sp => new MeshHandlerFactory(sp.GetRequiredService<MeshRuntime>(), sp.GetRequiredService<MeshSecurity>()));
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MeshOptions>, MeshOptionsValidator>());
            services.AddOptions<MeshOptions>().ValidateOnStart();
            services.TryAddSingleton<IMeshStatus, MeshStatus>();

            if (section is null)
            {
                // Bound lazily: the configuration is only known once the container is built.
                services.AddSingleton<IConfigureOptions<MeshOptions>>(sp =>
                    new MeshConfigurationSetup(sp.GetRequiredService<IConfiguration>().GetSection(MeshOptions.SectionName)));
                services.AddSingleton<IOptionsChangeTokenSource<MeshOptions>>(sp =>
                    new ConfigurationChangeTokenSource<MeshOptions>(sp.GetRequiredService<IConfiguration>().GetSection(MeshOptions.SectionName)));
            }
            else
            {
                services.AddSingleton<IConfigureOptions<MeshOptions>>(new MeshConfigurationSetup(section));
                services.AddSingleton<IOptionsChangeTokenSource<MeshOptions>>(new ConfigurationChangeTokenSource<MeshOptions>(section));
            }

            // Make the runtime at start-up so the first request does not pay for it, and so that bad configuration
            // fails the start even where ValidateOnStart does not run (no generic host).
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IHttpMessageHandlerBuilderFilter, MeshRuntimeWarmup>());
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IHttpMessageHandlerBuilderFilter, MeshTransportFilter>());
            AddStartupCheck(services);
        }

        if (configure is not null)
        {
            services.PostConfigure(configure);
        }

        return services;
    }

    /// <summary>
    /// Checks the <c>Mesh</c> configuration when the host starts, through the host's lifetime (see
    /// <see cref="MeshStartupCheck"/>). A lifetime registered after the mesh (e.g. by <c>UseSystemd()</c>) replaces the
    /// check; invalid configuration then still fails the start, with the host's own report. Without a host (no
    /// lifetime registered) nothing changes.
    /// </summary>
    private static void AddStartupCheck(IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(MeshStartupRejection)))
        {
            return;
        }

        services.AddSingleton<MeshStartupRejection>();
        services.AddSingleton<IConfigureOptions<LoggerFilterOptions>, MeshStartupLogFilter>();
        var lifetime = services.LastOrDefault(d => d.ServiceType == typeof(IHostLifetime) && !d.IsKeyedService);
        if (lifetime is null)
        {
            return;
        }

        services.Remove(lifetime);
        services.AddSingleton<IHostLifetime>(sp => new MeshStartupCheck(Inner(sp, lifetime),
            sp.GetRequiredService<IOptions<MeshOptions>>(), sp.GetRequiredService<MeshStartupRejection>()));
    }

    private static IHostLifetime Inner(IServiceProvider services, ServiceDescriptor lifetime) =>
        (IHostLifetime)(lifetime.ImplementationInstance
            ?? lifetime.ImplementationFactory?.Invoke(services)
            ?? ActivatorUtilities.CreateInstance(services, lifetime.ImplementationType!));

    /// <summary>Marks that the mesh's services are registered.</summary>
    private sealed class MeshMarker;
}
