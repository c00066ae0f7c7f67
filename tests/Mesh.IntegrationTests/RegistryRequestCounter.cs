using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Mesh.IntegrationTests;

/// <summary>
/// Middleware in front of a test registry that counts its watch requests by kind, in flight and in all, so a test sees
/// how many long polls clients hold. With <see cref="RefuseServicesWatch"/> it answers <c>POST /v1/watch</c> 404, as
/// a registry from before that endpoint does.
/// </summary>
internal sealed class RegistryRequestCounter : IStartupFilter
{
    public const string States = "states";
    public const string Catalog = "catalog";
    public const string Instances = "instances";
    public const string Policy = "policy";

    private readonly ConcurrentDictionary<string, int> _inFlight = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _total = new(StringComparer.Ordinal);

    public bool RefuseServicesWatch { get; init; }

    public int InFlight(string kind) => _inFlight.GetValueOrDefault(kind);

    public int Total(string kind) => _total.GetValueOrDefault(kind);

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(async (context, nextMiddleware) =>
        {
            var kind = Kind(context.Request);
            _total.AddOrUpdate(kind, 1, (_, n) => n + 1);
            _inFlight.AddOrUpdate(kind, 1, (_, n) => n + 1);
            try
            {
                if (RefuseServicesWatch && kind == States)
                {
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    return;
                }

                await nextMiddleware(context);
            }
            finally
            {
                _inFlight.AddOrUpdate(kind, 0, (_, n) => n - 1);
            }
        });
        next(app);
    };

    private static string Kind(HttpRequest request)
    {
        var path = request.Path.Value ?? string.Empty;
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        return (request.Method, segments) switch
        {
            ("POST", ["v1", "watch"]) => States,
            ("GET", ["v1", "services"]) => Catalog,
            ("GET", ["v1", "services", _, "instances"]) => Instances,
            ("GET", ["v1", "policies", _]) => Policy,
            _ => "other",
        };
    }
}
