using Mesh.Client.Registry;
using Mesh.Registry.Api;
using Mesh.Registry.Contracts;
using Mesh.Registry.Store;

namespace Mesh.Registry.Policies;

/// <summary>
/// Policy writes (admin: put, delete, rollback) and the reads beside them (validate, history). Every document is
/// validated with the very code clients run; every version is kept. A write with <c>If-Match: "&lt;version&gt;"</c>
/// replaces that version only (412 otherwise). The policy's watch is in <c>WatchEndpoints</c>.
/// </summary>
internal static class PolicyEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPut("/policies/{service}", PutAsync);
        v1.MapDelete("/policies/{service}", DeleteAsync);
        v1.MapPost("/policies/{service}/validate", ValidateAsync);
        v1.MapGet("/policies/{service}/history", HistoryAsync);
        v1.MapPost("/policies/{service}/rollback", RollbackAsync);
    }

    internal static async Task<IResult> PutAsync(string service, HttpContext context, IRegistryStore store, RegistryAuth auth,
        ILoggerFactory loggers)
    {
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Admin, service) is { } refusal)
        {
            return refusal;
        }

        if (!ApiRequest.TryReadService(service, out var name, out var problem) ||
            !PolicyVersionTag.TryReadIfMatch(context.Request, out var expected, out problem))
        {
            return problem;
        }

        var (document, invalid) = await PolicyDocument.ReadAsync(context, loggers.CreateLogger(typeof(PolicyDocument)));
        if (invalid is not null)
        {
            return invalid;
        }

        var write = await store.WritePolicyAsync(name, new PolicyChange(document, ExpectedVersion: expected));
        return Answer(context, name, expected, write);
    }

    internal static async Task<IResult> DeleteAsync(string service, HttpContext context, IRegistryStore store, RegistryAuth auth)
    {
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Admin, service) is { } refusal)
        {
            return refusal;
        }

        if (!ApiRequest.TryReadService(service, out var name, out var problem) ||
            !PolicyVersionTag.TryReadIfMatch(context.Request, out var expected, out problem))
        {
            return problem;
        }

        var write = await store.WritePolicyAsync(name, new PolicyChange(null, ExpectedVersion: expected));
        return write.Outcome == PolicyOutcome.NotFound
            ? Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No policy", detail: $"Service '{name}' has no policy to delete.")
            : Answer(context, name, expected, write);
    }

    internal static async Task<IResult> ValidateAsync(string service, HttpContext context, RegistryAuth auth, ILoggerFactory loggers)
    {
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Read, null) is { } refusal)
        {
            return refusal;
        }

        if (!ApiRequest.TryReadService(service, out _, out var problem))
        {
            return problem;
        }

        var (_, invalid) = await PolicyDocument.ReadAsync(context, loggers.CreateLogger(typeof(PolicyDocument)));
        return invalid ?? Results.Json(new PolicyValidationResponse { Valid = true }, RegistryApiJsonContext.Default.PolicyValidationResponse);
    }

    internal static async Task<IResult> HistoryAsync(string service, HttpContext context, IRegistryStore store, RegistryAuth auth)
    {
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Read, null) is { } refusal)
        {
            return refusal;
        }

        if (!ApiRequest.TryReadService(service, out var name, out var problem))
        {
            return problem;
        }

        var errors = new ValidationErrors();
        var limit = ApiRequest.ReadLong(context.Request, "limit", errors, 1, RegistryDefaults.MaxHistory) ?? RegistryDefaults.DefaultHistory;
        if (errors.Any)
        {
            return errors.Problem("Invalid query");
        }

        var versions = await store.GetPolicyHistoryAsync(name, (int)limit);
        var history = new PolicyHistoryResponse { Service = name, Versions = [.. versions.Select(ToRecord)] };
        return Results.Json(history, RegistryApiJsonContext.Default.PolicyHistoryResponse);
    }

    internal static async Task<IResult> RollbackAsync(string service, HttpContext context, IRegistryStore store, RegistryAuth auth,
        ILoggerFactory loggers)
    {
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Admin, service) is { } refusal)
        {
            return refusal;
        }

        if (!ApiRequest.TryReadService(service, out var name, out var problem) ||
            !PolicyVersionTag.TryReadIfMatch(context.Request, out var expected, out problem))
        {
            return problem;
        }

        var errors = new ValidationErrors();
        var version = ApiRequest.ReadLong(context.Request, "version", errors, 1, long.MaxValue);
        if (version is null && !errors.Any)
        {
            errors.Add("version", "required: the policy version to go back to");
        }

        if (errors.Any)
        {
            return errors.Problem("Invalid rollback");
        }

        var target = await store.GetPolicyVersionAsync(name, version!.Value);
        if (target is null)
        {
            return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such policy version",
                detail: $"Service '{name}' has no policy version {version}.");
        }

        if (target.Document is null)
        {
            errors.Add("version", $"version {version} is a deletion; DELETE the policy instead");
            return errors.Problem("Invalid rollback");
        }

        // The document was valid when it was stored; check it again with today's validator before it serves again.
        var validation = PolicyDocument.Validate(System.Text.Encoding.UTF8.GetBytes(target.Document), loggers.CreateLogger(typeof(PolicyDocument)));
        if (validation.Count > 0)
        {
            return Results.ValidationProblem(PolicyDocument.ToProblemErrors(validation), title: $"Policy version {version} no longer validates");
        }

        var write = await store.WritePolicyAsync(name, new PolicyChange(target.Document, target.Version, expected));
        return Answer(context, name, expected, write);
    }

    private static IResult Answer(HttpContext context, string service, long? expected, PolicyWrite write)
    {
        if (write.Outcome == PolicyOutcome.VersionMismatch)
        {
            return PolicyVersionTag.Mismatch(context, service, expected!.Value, write.Policy.Version);
        }

        PolicyVersionTag.Set(context.Response, write.Policy.Version);
        return ApiResponse.Json(context, write.Policy, write.Policy.Index, RegistryJsonContext.Default.PolicyResponse);
    }

    private static PolicyVersionRecord ToRecord(StoredPolicyVersion v) => new()
    {
        Version = v.Version,
        CreatedAt = v.CreatedAt,
        Document = PolicyJson.Parse(v.Document),
        RollbackOf = v.RollbackOf,
    };
}
