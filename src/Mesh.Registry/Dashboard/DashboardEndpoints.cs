using Mesh.Registry.Api;
using Mesh.Registry.Contracts;
using Mesh.Registry.Store;

namespace Mesh.Registry.Dashboard;

internal static class DashboardEndpoints
{
    public static void Map(RouteGroupBuilder v1) => v1.MapGet("/dashboard", ReadAsync);

    /// <summary>Services, instances, policy versions and the service graph in one read; admin only, as it maps the whole mesh.</summary>
    internal static async Task<IResult> ReadAsync(HttpContext context, IRegistryStore store, RegistryAuth auth, TrafficStatsStore traffic)
    {
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Admin, null) is { } refusal)
        {
            return refusal;
        }

        var answer = traffic.Complete(await store.ReadDashboardAsync());
        context.Response.Headers.CacheControl = "no-store";
        return ApiResponse.Json(context, answer, answer.Index, RegistryApiJsonContext.Default.DashboardResponse);
    }
}
