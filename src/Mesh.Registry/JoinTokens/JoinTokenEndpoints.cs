using System.Globalization;
using System.Text.Json;
using Mesh.Client;
using Mesh.Registry.Api;

namespace Mesh.Registry;

/// <summary>
/// Join tokens made at run time, admin only: <c>POST /v1/join-tokens</c> <c>{ "service", "version"?, "ttl"?, "uses"? }</c>
/// makes one (201; the token is in this answer only), <c>GET /v1/join-tokens</c> lists them without their secrets,
/// <c>DELETE /v1/join-tokens/{id}</c> revokes one. A token authenticates like a configured join token for its service
/// until it expires; each certificate it gets is one of its uses, and once they are spent it gets no more.
/// </summary>
internal static class JoinTokenEndpoints
{
    public const int MaxRequestBytes = 4096;
    public const int DefaultUses = 1;
    public const int MaxUses = 10_000;
    public static readonly TimeSpan DefaultTtl = TimeSpan.FromHours(1);
    public static readonly TimeSpan MinTtl = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan MaxTtl = TimeSpan.FromDays(30);

    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/join-tokens", CreateAsync);
        v1.MapGet("/join-tokens", List);
        v1.MapDelete("/join-tokens/{id}", RevokeAsync);
    }

    internal static async Task<IResult> CreateAsync(HttpContext context, RegistryAuth auth, JoinTokenStore tokens, TimeProvider time)
    {
        if (RefuseUnlessAdmin(context, auth) is { } refusal)
        {
            return refusal;
        }

        var (body, bodyProblem) = await RequestBody.ReadAsync(context.Request, MaxRequestBytes, context.RequestAborted);
        if (bodyProblem is not null)
        {
            return bodyProblem;
        }

        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var request = Read(body!, errors);
        if (request is null)
        {
            return Results.ValidationProblem(errors, title: "Invalid join token request");
        }

        var (token, secret) = await tokens.CreateAsync(request.Value.Service, request.Value.Version, request.Value.Ttl, request.Value.Uses);
        context.Response.Headers.CacheControl = "no-store";
        return Results.Json(JoinTokenRecord.Of(token, time.GetUtcNow(), secret), JoinTokenJsonContext.Default.JoinTokenRecord,
            statusCode: StatusCodes.Status201Created);
    }

    internal static IResult List(HttpContext context, RegistryAuth auth, JoinTokenStore tokens, TimeProvider time)
    {
        if (RefuseUnlessAdmin(context, auth) is { } refusal)
        {
            return refusal;
        }

        var now = time.GetUtcNow();
        var list = tokens.List().ConvertAll(t => JoinTokenRecord.Of(t, now));
        context.Response.Headers.CacheControl = "no-store";
        return Results.Json(new JoinTokenListResponse { Tokens = list }, JoinTokenJsonContext.Default.JoinTokenListResponse);
    }

    internal static async Task<IResult> RevokeAsync(string id, HttpContext context, RegistryAuth auth, JoinTokenStore tokens)
    {
        if (RefuseUnlessAdmin(context, auth) is { } refusal)
        {
            return refusal;
        }

        return await tokens.RevokeAsync(id)
            ? Results.NoContent()
            : Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such join token",
                detail: $"There is no join token '{Truncate(id)}' (it may have expired more than a day ago, or been revoked).");
    }

    private static IResult? RefuseUnlessAdmin(HttpContext context, RegistryAuth auth)
    {
        var caller = auth.Authenticate(context.Request, out var presented);
        if (caller is null)
        {
            context.Response.Headers.WWWAuthenticate = presented ? "Bearer error=\"invalid_token\"" : "Bearer";
            return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized",
                detail: presented ? "The bearer token is not valid." : "A bearer token is required (Authorization: Bearer <token>).");
        }

        return caller.IsAdmin ? null : Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden", detail: "Join tokens need the admin token.");
    }

    /// <summary>Reads <c>{ "service", "version"?, "ttl"?, "uses"? }</c>; null with every error by its field otherwise.</summary>
    private static (string Service, string? Version, TimeSpan Ttl, int Uses)? Read(byte[] body, Dictionary<string, string[]> errors)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException ex)
        {
            errors["body"] = [$"not valid JSON: {ex.Message}"];
            return null;
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                errors["body"] = ["expected a JSON object: { \"service\": \"reviews\", \"version\": \"v2\", \"ttl\": \"01:00:00\", \"uses\": 5 }"];
                return null;
            }

            string? service = null;
            string? version = null;
            var ttl = DefaultTtl;
            var uses = DefaultUses;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                var name = property.Name.ToLowerInvariant();
                if (name is not ("service" or "version" or "ttl" or "uses"))
                {
                    errors[Truncate(property.Name)] = ["unknown field; a join token request has service, version, ttl and uses"];
                    continue;
                }

                if (!seen.Add(name))
                {
                    errors[name] = ["given more than once"];
                    continue;
                }

                var value = property.Value;
                switch (name)
                {
                    case "service":
                        service = value.ValueKind == JsonValueKind.String && value.GetString() is { } s && MeshPolicyValidation.IsValidName(s) ? RegistryNames.Service(s) : null;
                        if (service is null)
                        {
                            errors["service"] = ["must be a service name (letters, digits, '-', '_' and '.', at most 63 characters)"];
                        }

                        break;
                    case "version":
                        if (value.ValueKind == JsonValueKind.Null)
                        {
                            break;
                        }

                        version = value.ValueKind == JsonValueKind.String && value.GetString() is { } v && MeshPolicyValidation.IsValidName(v) ? v : null;
                        if (version is null)
                        {
                            errors["version"] = ["must be a version name (letters, digits, '-', '_' and '.', at most 63 characters), or absent for any version"];
                        }

                        break;
                    case "ttl":
                        if (!TryReadTtl(value, out ttl))
                        {
                            errors["ttl"] = [$"must be a duration from {MinTtl:c} to {MaxTtl:c}: a string such as \"01:00:00\" (hh:mm:ss, or d.hh:mm:ss) or a number of seconds"];
                        }

                        break;
                    default:
                        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out uses) || uses is < 1 or > MaxUses)
                        {
                            errors["uses"] = [$"must be a whole number from 1 to {MaxUses}: how many certificates (instances) the token may get"];
                        }

                        break;
                }
            }

            if (service is null && !errors.ContainsKey("service"))
            {
                errors["service"] = ["required: the service the token joins"];
            }

            return errors.Count == 0 ? (service!, version, ttl, uses) : null;
        }
    }

    private static bool TryReadTtl(JsonElement value, out TimeSpan ttl)
    {
        ttl = TimeSpan.Zero;
        if (value.ValueKind == JsonValueKind.Number)
        {
            if (!value.TryGetDouble(out var seconds) || !double.IsFinite(seconds) || seconds > MaxTtl.TotalSeconds)
            {
                return false;
            }

            ttl = TimeSpan.FromSeconds(seconds);
        }
        else if (value.ValueKind != JsonValueKind.String || value.GetString() is not { Length: <= 32 } text ||
                 !TimeSpan.TryParseExact(text, "c", CultureInfo.InvariantCulture, out ttl))
        {
            return false;
        }

        return ttl >= MinTtl && ttl <= MaxTtl;
    }

    private static string Truncate(string value) => value.Length <= 80 ? value : string.Concat(value.AsSpan(0, 80), "…");
}
