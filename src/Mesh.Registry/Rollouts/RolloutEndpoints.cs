using Mesh.Registry.Api;

namespace Mesh.Registry.Rollouts;

/// <summary>
/// <c>PUT /v1/rollouts/{service}</c> starts a rollout (admin), <c>GET</c> reads it, <c>POST .../pause|resume|abort|promote</c>
/// (admin) steer it. A spec is checked field by field and against the service's current policy, and refused with every
/// error and its path; a second start while one runs, or a command the state does not allow, is a 409.
/// </summary>
internal static class RolloutEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPut("/rollouts/{service}", StartAsync);
        v1.MapGet("/rollouts/{service}", GetAsync);
        v1.MapPost("/rollouts/{service}/pause", (string service, HttpContext context, RolloutEngine engine, RegistryAuth auth) =>
            CommandAsync(service, RolloutCommand.Pause, context, engine, auth));
        v1.MapPost("/rollouts/{service}/resume", (string service, HttpContext context, RolloutEngine engine, RegistryAuth auth) =>
            CommandAsync(service, RolloutCommand.Resume, context, engine, auth));
        v1.MapPost("/rollouts/{service}/abort", (string service, HttpContext context, RolloutEngine engine, RegistryAuth auth) =>
            CommandAsync(service, RolloutCommand.Abort, context, engine, auth));
        v1.MapPost("/rollouts/{service}/promote", (string service, HttpContext context, RolloutEngine engine, RegistryAuth auth) =>
            CommandAsync(service, RolloutCommand.Promote, context, engine, auth));
    }

    internal static async Task<IResult> StartAsync(string service, HttpContext context, RolloutEngine engine, RegistryAuth auth)
    {
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Admin, service) is { } refusal)
        {
            return refusal;
        }

        if (!ApiRequest.TryReadService(service, out var name, out var problem))
        {
            return problem;
        }

        var (body, bodyProblem) = await RequestBody.ReadAsync(context.Request, RegistryDefaults.MaxPolicyBytes, context.RequestAborted);
        if (bodyProblem is not null)
        {
            return bodyProblem;
        }

        var errors = new ValidationErrors();
        var spec = RolloutSpecReader.Read(body!, errors);
        if (spec is null)
        {
            return errors.Problem("Invalid rollout");
        }

        // A spec with wrong fields goes on to be checked against the policy too, so every error comes back at once.

        var outcome = await engine.StartAsync(name, spec, errors);
        return outcome.Refusal == RolloutRefusal.Invalid ? errors.Problem("Invalid rollout") : Answer(outcome, StatusCodes.Status201Created);
    }

    internal static async Task<IResult> GetAsync(string service, HttpContext context, RolloutEngine engine, RegistryAuth auth)
    {
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Read, null) is { } refusal)
        {
            return refusal;
        }

        if (!ApiRequest.TryReadService(service, out var name, out var problem))
        {
            return problem;
        }

        var rollout = await engine.GetAsync(name);
        return Answer(new RolloutOutcome(rollout, rollout is null ? RolloutRefusal.NotFound : RolloutRefusal.None, $"Service '{name}' has no rollout."),
            StatusCodes.Status200OK);
    }

    internal static async Task<IResult> CommandAsync(string service, RolloutCommand command, HttpContext context, RolloutEngine engine, RegistryAuth auth)
    {
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Admin, service) is { } refusal)
        {
            return refusal;
        }

        if (!ApiRequest.TryReadService(service, out var name, out var problem))
        {
            return problem;
        }

        return Answer(await engine.CommandAsync(name, command), StatusCodes.Status200OK);
    }

    private static IResult Answer(RolloutOutcome outcome, int status) => outcome.Refusal switch
    {
        RolloutRefusal.NotFound => Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No rollout", detail: outcome.Detail),
        RolloutRefusal.Conflict => Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Rollout state conflict", detail: outcome.Detail),
        _ => Results.Json(outcome.Rollout, RolloutJsonContext.Default.RolloutStatus, statusCode: status),
    };
}
