using System.Text.Json;
using Mesh.Client.Registry;
using Mesh.Registry.Api;
using Mesh.Registry.Policies;
using Mesh.Registry.Store;
using Microsoft.Extensions.Options;

namespace Mesh.Registry.Watches;

/// <summary>
/// The long-poll reads: the catalog, a service's instances, a service's policy, and many services' states in one
/// poll. Without <c>index</c> each answers at once; with it, when what it reads has changed since that index or
/// <c>wait</c> has passed (see the README).
/// </summary>
internal static class WatchEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/services", WatchServicesAsync);
        v1.MapGet("/services/{service}/instances", WatchInstancesAsync);
        v1.MapGet("/policies/{service}", WatchPolicyAsync);
        v1.MapPost("/watch", WatchServiceStatesAsync);
    }

    internal static async Task<IResult> WatchServicesAsync(HttpContext context, IRegistryStore store, RegistryAuth auth, IOptions<RegistryOptions> options,
        WatchLimiter watches)
    {
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Read, null, out var caller) is { } refusal)
        {
            return refusal;
        }

        if (!WatchQuery.TryRead(context.Request, options.Value, out var index, out var wait, out var problem))
        {
            return problem;
        }

        ServicesResponse answer;
        try
        {
            answer = await store.WatchServicesAsync(index, wait, WatchCaller.Of(caller!, context, watches), context.RequestAborted);
        }
        catch (TooManyWatchesException ex)
        {
            return TooManyWatches.Problem(context, ex);
        }

        return ApiResponse.Json(context, answer, answer.Index, RegistryJsonContext.Default.ServicesResponse);
    }

    internal static async Task<IResult> WatchInstancesAsync(string service, HttpContext context, IRegistryStore store, RegistryAuth auth,
        IOptions<RegistryOptions> options, WatchLimiter watches)
    {
        if (RefuseServiceWatch(service, context, auth, options.Value, out var caller, out var name, out var index, out var wait) is { } refusal)
        {
            return refusal;
        }

        InstancesResponse answer;
        try
        {
            answer = await store.WatchInstancesAsync(name, index, wait, WatchCaller.Of(caller!, context, watches), context.RequestAborted);
        }
        catch (TooManyWatchesException ex)
        {
            return TooManyWatches.Problem(context, ex);
        }

        return ApiResponse.Json(context, answer, answer.Index, RegistryJsonContext.Default.InstancesResponse);
    }

    internal static async Task<IResult> WatchPolicyAsync(string service, HttpContext context, IRegistryStore store, RegistryAuth auth,
        IOptions<RegistryOptions> options, WatchLimiter watches)
    {
        if (RefuseServiceWatch(service, context, auth, options.Value, out var caller, out var name, out var index, out var wait) is { } refusal)
        {
            return refusal;
        }

        PolicyResponse answer;
        try
        {
            answer = await store.WatchPolicyAsync(name, index, wait, WatchCaller.Of(caller!, context, watches), context.RequestAborted);
        }
        catch (TooManyWatchesException ex)
        {
            return TooManyWatches.Problem(context, ex);
        }

        PolicyVersionTag.Set(context.Response, answer.Version);
        return ApiResponse.Json(context, answer, answer.Index, RegistryJsonContext.Default.PolicyResponse);
    }

    /// <summary>What a watch of one service checks first: read access, the service's name and the watch's query.</summary>
    private static IResult? RefuseServiceWatch(string service, HttpContext context, RegistryAuth auth, RegistryOptions options,
        out RegistryCaller? caller, out string name, out long? index, out TimeSpan wait)
    {
        index = null;
        wait = default;
        name = string.Empty;
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Read, null, out caller) is { } refusal)
        {
            return refusal;
        }

        return ApiRequest.TryReadService(service, out name, out var problem) && WatchQuery.TryRead(context.Request, options, out index, out wait, out problem)
            ? null
            : problem;
    }

    /// <summary>
    /// <c>POST /v1/watch?index=N&amp;wait=30s</c> with <c>{"services":[...]}</c>: a POST because a client names up to
    /// <see cref="RegistryDefaults.MaxWatchedServices"/> services, which would not fit a request line (Kestrel: 8 KiB).
    /// It changes nothing, so a client may repeat it freely.
    /// </summary>
    internal static async Task<IResult> WatchServiceStatesAsync(HttpContext context, IRegistryStore store, RegistryAuth auth,
        IOptions<RegistryOptions> options, WatchLimiter watches)
    {
        // Reading is open to every caller, whatever services it names, as each service's own watches are.
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Read, null, out var caller) is { } refusal)
        {
            return refusal;
        }

        if (!WatchQuery.TryRead(context.Request, options.Value, out var index, out var wait, out var problem))
        {
            return problem;
        }

        var (body, bodyProblem) = await RequestBody.ReadAsync(context.Request, RegistryDefaults.MaxWatchBodyBytes, context.RequestAborted);
        if (bodyProblem is not null)
        {
            return bodyProblem;
        }

        var errors = new ValidationErrors();
        var services = ReadServices(body!, errors);
        if (errors.Any)
        {
            return errors.Problem("Invalid watch");
        }

        ServicesWatchResponse answer;
        try
        {
            answer = await store.WatchServiceStatesAsync(services, index, wait, WatchCaller.Of(caller!, context, watches), context.RequestAborted);
        }
        catch (TooManyWatchesException ex)
        {
            return TooManyWatches.Problem(context, ex);
        }

        return ApiResponse.Json(context, answer, answer.Index, RegistryJsonContext.Default.ServicesWatchResponse);
    }

    /// <summary>The named services, checked, in the registry's case, each once in the order first named.</summary>
    private static List<string> ReadServices(byte[] body, ValidationErrors errors)
    {
        ServicesWatchRequest? request;
        try
        {
            request = JsonSerializer.Deserialize(body, RegistryJsonContext.Default.ServicesWatchRequest);
        }
        catch (JsonException ex)
        {
            errors.Add(ApiRequest.JsonField(ex.Path), "not valid JSON for a watch: " + ApiRequest.Truncate(ex.Message));
            return [];
        }

        var names = request?.Services ?? [];
        if (names.Count == 0)
        {
            errors.Add("services", "required: at least one service name");
            return [];
        }

        if (names.Count > RegistryDefaults.MaxWatchedServices)
        {
            errors.Add("services", $"{names.Count} services; at most {RegistryDefaults.MaxWatchedServices}");
            return [];
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var services = new List<string>(names.Count);
        for (var i = 0; i < names.Count; i++)
        {
            var name = names[i] ?? string.Empty;
            ApiRequest.CheckName(errors, $"services[{i}]", name, "service name");
            if (!errors.Any && seen.Add(RegistryNames.Service(name)))
            {
                services.Add(RegistryNames.Service(name));
            }
        }

        return services;
    }
}
