using Mesh.Client.Registry;
using Mesh.Registry.Api;
using Mesh.Registry.Dashboard;
using Mesh.Registry.Store;
using Microsoft.Extensions.Options;

namespace Mesh.Registry.Instances;

/// <summary>Registering, renewing and deregistering instances: the admin, or the service's own join token or mesh certificate.</summary>
internal static class InstanceEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPut("/services/{service}/instances/{id}", RegisterAsync);
        v1.MapDelete("/services/{service}/instances/{id}", DeregisterAsync);
    }

    internal static async Task<IResult> RegisterAsync(string service, string id, HttpContext context, IRegistryStore store, RegistryAuth auth,
        TrafficStatsStore traffic, IOptions<RegistryOptions> options, InstanceLimitMetrics limitMetrics)
    {
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Register, service, out var caller) is { } refusal)
        {
            return refusal;
        }

        var errors = new ValidationErrors();
        ApiRequest.CheckName(errors, "service", service, "service name");
        ApiRequest.CheckName(errors, "id", id, "instance id");
        if (errors.Any)
        {
            return errors.Problem("Invalid registration");
        }

        var (body, bodyProblem) = await RequestBody.ReadAsync(context.Request, RegistryDefaults.MaxRegistrationBytes, context.RequestAborted);
        if (bodyProblem is not null)
        {
            return bodyProblem;
        }

        var registration = RegistrationReader.Read(body!, errors, out var stats);
        if (registration is null)
        {
            return errors.Problem("Invalid registration");
        }

        if (VersionRefusal(caller!, registration) is { } versionRefusal)
        {
            return versionRefusal;
        }

        var write = await store.RegisterAsync(RegistryNames.Service(service), id, registration with { Traffic = stats });
        if (write.Refused)
        {
            limitMetrics.Refused(RegistryNames.Service(service));
            return Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Too many instances",
                detail: $"Service '{RegistryNames.Service(service)}' already has {options.Value.MaxInstancesPerService} instances, the limit " +
                        $"{RegistryOptions.SectionName}:{nameof(RegistryOptions.MaxInstancesPerService)} sets; deregister one, or raise the limit.");
        }

        if (stats is not null)
        {
            traffic.Record(RegistryNames.Service(service), id, stats);
        }

        return ApiResponse.Json(context, write.Record, write.Index, RegistryJsonContext.Default.InstanceRecord,
            write.Created ? StatusCodes.Status201Created : StatusCodes.Status200OK);
    }

    internal static async Task<IResult> DeregisterAsync(string service, string id, HttpContext context, IRegistryStore store, RegistryAuth auth,
        TrafficStatsStore traffic)
    {
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Register, service) is { } refusal)
        {
            return refusal;
        }

        var errors = new ValidationErrors();
        ApiRequest.CheckName(errors, "service", service, "service name");
        ApiRequest.CheckName(errors, "id", id, "instance id");
        if (errors.Any)
        {
            return errors.Problem("Invalid instance");
        }

        traffic.Remove(RegistryNames.Service(service), id);
        return await store.DeregisterAsync(RegistryNames.Service(service), id)
            ? Results.NoContent()
            : Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such instance",
                detail: $"Service '{RegistryNames.Service(service)}' has no instance '{id}'.");
    }

    /// <summary>
    /// A caller whose version is fixed (a certificate, or a join token made for one version) registers instances at
    /// that version only: the registered version picks the subsets that route to the instance and labels every
    /// caller's metrics for it, so it must not be a workload's own choice where its identity already says.
    /// </summary>
    private static IResult? VersionRefusal(RegistryCaller caller, Registration registration)
    {
        if (caller.IsAdmin || (!caller.ByCertificate && caller.BoundVersion is null))
        {
            return null;
        }

        var bound = caller.BoundVersion;
        var claimed = registration.Version;
        foreach (var (key, value) in registration.Labels)
        {
            if (string.Equals(key, "version", StringComparison.OrdinalIgnoreCase) && !string.Equals(value, bound, StringComparison.Ordinal))
            {
                claimed = value;
            }
        }

        if (claimed is null || string.Equals(claimed, bound, StringComparison.Ordinal))
        {
            return null;
        }

        var authority = caller.ByCertificate ? "This certificate" : "This join token";
        return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden",
            detail: bound is null
                ? $"{authority} carries no version; register without one, not '{ApiRequest.Truncate(claimed)}'."
                : $"{authority} is for version '{bound}' of '{caller.Service}'; it cannot register version '{ApiRequest.Truncate(claimed)}'.");
    }
}
