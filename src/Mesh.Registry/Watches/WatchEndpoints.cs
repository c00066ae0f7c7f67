using Mesh.Client.Registry;
using Mesh.Registry.Api;
using Mesh.Registry.Policies;
using Mesh.Registry.Store;
using Microsoft.Extensions.Options;

namespace Mesh.Registry.Watches;

/// <summary>
/// The long-poll reads: the catalog, a service's instances, a service's policy. Without <c>index</c> each answers at
/// once; with it, when what it reads has changed since that index or <c>wait</c> has passed (see the README).
/// </summary>
internal static class WatchEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/services", WatchServicesAsync);
        v1.MapGet("/services/{service}/instances", WatchInstancesAsync);
        v1.MapGet("/policies/{service}", WatchPolicyAsync);
    }

    internal static async Task<IResult> WatchServicesAsync(HttpContext context, IRegistryStore store, RegistryAuth auth, IOptions<RegistryOptions> options)
    {
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Read, null) is { } refusal)
        {
            return refusal;
        }

        if (!WatchQuery.TryRead(context.Request, options.Value, out var index, out var wait, out var problem))
        {
            return problem;
        }

        var answer = await store.WatchServicesAsync(index, wait, context.RequestAborted);
        return ApiResponse.Json(context, answer, answer.Index, RegistryJsonContext.Default.ServicesResponse);
    }

    internal static async Task<IResult> WatchInstancesAsync(string service, HttpContext context, IRegistryStore store, RegistryAuth auth,
        IOptions<RegistryOptions> options)
    {
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Read, null) is { } refusal)
        {
            return refusal;
        }

        if (!ApiRequest.TryReadService(service, out var name, out var problem) ||
            !WatchQuery.TryRead(context.Request, options.Value, out var index, out var wait, out problem))
        {
            return problem;
        }

        var answer = await store.WatchInstancesAsync(name, index, wait, context.RequestAborted);
        return ApiResponse.Json(context, answer, answer.Index, RegistryJsonContext.Default.InstancesResponse);
    }

    internal static async Task<IResult> WatchPolicyAsync(string service, HttpContext context, IRegistryStore store, RegistryAuth auth,
        IOptions<RegistryOptions> options)
    {
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Read, null) is { } refusal)
        {
            return refusal;
        }

        if (!ApiRequest.TryReadService(service, out var name, out var problem) ||
            !WatchQuery.TryRead(context.Request, options.Value, out var index, out var wait, out problem))
        {
            return problem;
        }

        var answer = await store.WatchPolicyAsync(name, index, wait, context.RequestAborted);
        PolicyVersionTag.Set(context.Response, answer.Version);
        return ApiResponse.Json(context, answer, answer.Index, RegistryJsonContext.Default.PolicyResponse);
    }
}
