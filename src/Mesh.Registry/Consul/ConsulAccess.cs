namespace Mesh.Registry.Consul;

/// <summary>
/// Who may read the Consul API: the token in <c>X-Consul-Token</c>, else <c>?token=</c>, else the registry's own
/// <c>Authorization: Bearer</c> or mesh client certificate. Any caller the registry's API lets read may read here. A
/// missing or unknown token is 403 problem+json, as Consul answers with ACLs on (it has no 401).
/// </summary>
internal static class ConsulAccess
{
    public const string TokenHeader = "X-Consul-Token";

    public static IResult? Refuse(HttpContext context, RegistryAuth auth) => Refuse(context, auth, out _);

    /// <summary>The refusal, or null when the call may go ahead; <paramref name="caller"/> is who is calling when known.</summary>
    public static IResult? Refuse(HttpContext context, RegistryAuth auth, out RegistryCaller? caller)
    {
        caller = null;
        var request = context.Request;
        var header = request.Headers[TokenHeader];
        var query = request.Query["token"];
        if (header.Count > 1 || query.Count > 1)
        {
            return Forbidden("A Consul token is given more than once.");
        }

        if (header.Count == 1 || query.Count == 1)
        {
            caller = auth.AuthenticateToken(request, header.Count == 1 ? header[0]! : query[0]!);
        }
        else
        {
            caller = auth.Authenticate(request, out _);
        }

        return caller is null
            ? Forbidden("ACL not found: give a registry token in X-Consul-Token, ?token= or Authorization: Bearer.")
            : null;
    }

    private static IResult Forbidden(string detail) =>
        Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden", detail: detail);
}
