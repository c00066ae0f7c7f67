using Mesh.Registry.Api;
using Mesh.Registry.Ca;
using Mesh.Registry.Dashboard;
using Mesh.Registry.Instances;
using Mesh.Registry.Rollouts;
using Mesh.Registry.Store;
using Mesh.Registry.Watches;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Mesh.Registry;

internal static class RegistryServices
{
    /// <summary>See <see cref="MeshRegistryHostingExtensions.AddMeshRegistry"/>.</summary>
    public static IServiceCollection Add(IServiceCollection services)
    {
        services.AddProblemDetails();
        services.AddExceptionHandler<StoreUnavailableHandler>();
        services.AddHealthChecks();
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(new RegistryConsole(Console.Out));
        services.AddOptions<RegistryOptions>().BindConfiguration(RegistryOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RegistryOptions>, RegistryOptionsValidator>());
        services.TryAddSingleton(RegistryStoreFactory.Create);
        services.TryAddSingleton<JoinTokenStore>();
        services.TryAddSingleton<AuthFailureLimiter>();
        services.TryAddSingleton<InstanceLimitMetrics>();
        services.TryAddSingleton<RegistryAuth>();
        services.TryAddSingleton<WatchLimiter>();
        services.TryAddSingleton<CertificateAuthority>();
        services.TryAddSingleton<RegistryServerCertificate>();
        services.TryAddSingleton<RegistryCertificateAuth>();
        RegistryKestrelSetup.Add(services);
        services.AddHostedService<CaFingerprintAnnouncer>();
        services.TryAddSingleton<RolloutTrafficWindows>();
        services.TryAddSingleton<TrafficStatsStore>();
        services.TryAddSingleton<RolloutMetrics>();
        services.TryAddSingleton<RolloutEngine>();
        services.AddHostedService<RolloutDriver>();
        services.AddHostedService<RegistryStartup>();
        return services;
    }
}
