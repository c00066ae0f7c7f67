namespace Mesh.Registry;

/// <summary>
/// Hosts the registry inside another ASP.NET Core app instead of as its own process: a demo that runs a whole mesh in
/// one process (<c>samples/Bookinfo</c>), an integration test. The registry is an app, not a package, and this is its
/// one public entry point; everything else about it is its HTTP API (see <c>src/Mesh.Registry/README.md</c>).
/// </summary>
public static class MeshRegistryHostingExtensions
{
    /// <summary>
    /// Adds the registry's services, configured by the <c>MeshRegistry</c> section and validated at start.
    /// <paramref name="output"/> is where the registry prints what an operator must see once (a generated admin token,
    /// the CA's fingerprint); standard output when null.
    /// </summary>
    public static IServiceCollection AddMeshRegistry(this IServiceCollection services, TextWriter? output = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (output is not null)
        {
            services.AddSingleton(new RegistryConsole(output));
        }

        return RegistryServices.Add(services);
    }

    /// <summary>
    /// Maps the registry's HTTP API (<c>/v1/...</c>), its dashboard and <c>/healthz</c>. Serve it over HTTPS with the
    /// registry's own certificate by listening with <c>UseHttps()</c>; a plain <c>http://</c> loopback listener also works.
    /// </summary>
    public static WebApplication MapMeshRegistry(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return RegistryEndpoints.Map(app);
    }
}
