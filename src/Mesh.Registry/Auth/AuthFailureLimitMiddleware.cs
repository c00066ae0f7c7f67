using System.Globalization;
using Mesh.Registry.Ca;

namespace Mesh.Registry;

/// <summary>
/// Refuses API calls (<c>/v1/...</c>) from an address that used up its failed authentications with 429 and
/// <c>Retry-After</c>, before any token is looked at (see <see cref="AuthFailureLimiter"/>). A request that
/// authenticates with a mesh client certificate and brings no token in any form the registry reads passes: the TLS
/// handshake proved the key, which no one guesses, and workloads behind the same address (a NAT, a node) must keep
/// renewing while a neighbour guesses.
/// </summary>
internal sealed class AuthFailureLimitMiddleware(RequestDelegate next, AuthFailureLimiter limiter, RegistryCertificateAuth certificates)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase) ||
            !limiter.IsLimited(context.Connection.RemoteIpAddress, out var retryAfter) ||
            (!PresentsToken(context.Request) && certificates.Authenticate(context) is not null))
        {
            return next(context);
        }

        var seconds = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return Results.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many failed authentications",
            detail: $"Too many requests from this address presented an unknown token; try again in {seconds} s.").ExecuteAsync(context);
    }

    /// <summary>
    /// Whether the call brings a token in any form the registry reads one (a token beside a certificate is what the
    /// call is judged by, and so may be a guess): <c>Authorization</c>, and Consul's <c>X-Consul-Token</c> and <c>?token=</c>.
    /// </summary>
    private static bool PresentsToken(HttpRequest request) =>
        request.Headers.Authorization.Count > 0 || request.Headers.ContainsKey(Consul.ConsulAccess.TokenHeader) ||
        request.Query.ContainsKey("token");
}
