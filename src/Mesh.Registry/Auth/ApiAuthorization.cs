using Mesh.Registry.Api;

namespace Mesh.Registry;

/// <summary>The refusals of the instance, watch, policy and dashboard calls: 401 without a valid token, 403 when the token may not do this.</summary>
internal static class ApiAuthorization
{
    /// <summary>The refusal, or null when the call may go ahead.</summary>
    public static IResult? Refuse(HttpContext context, RegistryAuth auth, ApiAccess access, string? service) =>
        Refuse(context, auth, access, service, out _);

    /// <summary>The refusal, or null when the call may go ahead; <paramref name="caller"/> is who is calling when known.</summary>
    public static IResult? Refuse(HttpContext context, RegistryAuth auth, ApiAccess access, string? service, out RegistryCaller? caller)
    {
        caller = auth.Authenticate(context.Request, out var presented);
        if (caller is null)
        {
            context.Response.Headers.WWWAuthenticate = presented ? "Bearer error=\"invalid_token\"" : "Bearer";
            return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized",
                detail: presented ? "The bearer token is not valid." : "A bearer token is required (Authorization: Bearer <token>).");
        }

        var allowed = access switch
        {
            ApiAccess.Read => true,
            ApiAccess.Register => caller.MayRegister(RegistryNames.Service(service!)),
            _ => caller.IsAdmin,
        };
        if (allowed)
        {
            return null;
        }

        return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden",
            detail: access == ApiAccess.Admin
                ? "Policy changes need the admin token."
                : $"This join token is for service '{caller.Service}', not '{ApiRequest.Truncate(RegistryNames.Service(service!))}'.");
    }
}
