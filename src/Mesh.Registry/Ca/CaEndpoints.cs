using System.Globalization;
using System.Text.Json;
using Mesh.Client;
using Mesh.Client.Registry;
using Mesh.Registry.Api;
using Mesh.Registry.Contracts;
using Mesh.Registry.Watches;
using Microsoft.Extensions.Options;

namespace Mesh.Registry.Ca;

/// <summary>
/// The CA's HTTP API: <c>POST /v1/certificates</c> (a join token gets certificates for its own service only; the admin
/// token names the service), <c>GET /v1/trust-bundle</c> (long-poll like the other watches), and the admin-only root
/// rotation calls under <c>/v1/ca/roots</c>.
/// </summary>
internal static class CaEndpoints
{
    /// <summary>A PEM CSR is well under 2 KiB; a few KiB of JSON around it is generous.</summary>
    public const int MaxCertificateRequestBytes = 16 * 1024;

    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/certificates", SignAsync);
        v1.MapGet("/trust-bundle", WatchTrustBundleAsync);
        v1.MapGet("/ca/roots", ListRoots);
        v1.MapPost("/ca/roots", AddRoot);
        v1.MapPost("/ca/roots/{id}/activate", Activate);
        v1.MapDelete("/ca/roots/{id}", Remove);
        CaBundleEndpoint.Map(v1);
    }

    internal static async Task<IResult> SignAsync(HttpContext context, CertificateAuthority ca, RegistryAuth auth, JoinTokenStore joinTokens)
    {
        if (Authenticate(context, auth, out var caller) is { } refusal)
        {
            return refusal;
        }

        var (body, bodyProblem) = await RequestBody.ReadAsync(context.Request, MaxCertificateRequestBytes, context.RequestAborted);
        if (bodyProblem is not null)
        {
            return bodyProblem;
        }

        CertificateSigningRequest? request = null;
        string? error = null;
        try
        {
            request = System.Text.Unicode.Utf8.IsValid(body) ? JsonSerializer.Deserialize(body!, RegistryJsonContext.Default.CertificateSigningRequest) : null;
            error = request is null ? "expected a JSON object in UTF-8: { \"csr\": \"-----BEGIN CERTIFICATE REQUEST-----...\" }" : null;
        }
        catch (JsonException ex)
        {
            error = ex.Message;
        }

        if (error is not null)
        {
            return Invalid("body", error);
        }

        if (string.IsNullOrWhiteSpace(request!.Csr))
        {
            return Invalid("csr", "required: a PKCS#10 certificate request in PEM");
        }

        string service;
        if (caller!.IsAdmin)
        {
            if (request.Service is null || !MeshPolicyValidation.IsValidName(request.Service))
            {
                return Invalid("service", "required with the admin token: the service to sign for (letters, digits, '-', '_' and '.')");
            }

            service = RegistryNames.Service(request.Service);
        }
        else
        {
            service = caller.Service!;
            if (request.Service is not null && !string.Equals(RegistryNames.Service(request.Service), service, StringComparison.Ordinal))
            {
                return Forbidden($"This join token is for service '{service}', not '{Truncate(request.Service)}'.");
            }
        }

        try
        {
            return Results.Json(await joinTokens.SignAsync(ca, caller, request.Csr, service), RegistryJsonContext.Default.CertificateResponse);
        }
        catch (CertificateRequestException ex) when (ex.Status == StatusCodes.Status403Forbidden)
        {
            return Forbidden(ex.Message);
        }
        catch (CertificateRequestException ex)
        {
            return Invalid(ex.Field, ex.Message);
        }
    }

    internal static async Task<IResult> WatchTrustBundleAsync(HttpContext context, CertificateAuthority ca, RegistryAuth auth, IOptions<RegistryOptions> options,
        WatchLimiter watches)
    {
        if (Authenticate(context, auth, out var caller) is { } refusal)
        {
            return refusal;
        }

        var query = context.Request.Query;
        long? index = null;
        var wait = options.Value.DefaultWatchWait;
        if (query["index"] is { Count: > 0 } indexValues)
        {
            if (indexValues.Count > 1 || !long.TryParse(indexValues[0], NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
            {
                return Invalid("index", "must be one whole number");
            }

            index = parsed;
        }

        if (query["wait"] is { Count: > 0 } waitValues)
        {
            if (waitValues.Count > 1 || !WatchWait.TryParse(waitValues[0], out var parsed))
            {
                return Invalid("wait", "must be one duration such as 30s, 500ms, 2m or 1h");
            }

            wait = parsed > options.Value.MaxWatchWait ? options.Value.MaxWatchWait : parsed;
        }

        TrustBundleResponse bundle;
        try
        {
            bundle = await ca.WatchTrustBundleAsync(index, wait, WatchCaller.Of(caller!, context, watches), context.RequestAborted);
        }
        catch (TooManyWatchesException ex)
        {
            return TooManyWatches.Problem(context, ex);
        }

        context.Response.Headers[RegistryHeaders.Index] = bundle.Index.ToString(CultureInfo.InvariantCulture);
        return Results.Json(bundle, RegistryJsonContext.Default.TrustBundleResponse);
    }

    internal static IResult ListRoots(HttpContext context, CertificateAuthority ca, RegistryAuth auth) =>
        AuthenticateAdmin(context, auth) ?? Results.Json(ca.ListRoots(), RegistryApiJsonContext.Default.CaRootsResponse);

    internal static async Task<IResult> AddRoot(HttpContext context, CertificateAuthority ca, RegistryAuth auth)
    {
        if (AuthenticateAdmin(context, auth) is { } refusal)
        {
            return refusal;
        }

        try
        {
            return Results.Json(await ca.AddRootAsync(), RegistryApiJsonContext.Default.CaRootRecord, statusCode: StatusCodes.Status201Created);
        }
        catch (TimeoutException ex)
        {
            return FolderBusy(ex);
        }
    }

    internal static async Task<IResult> Activate(string id, HttpContext context, CertificateAuthority ca, RegistryAuth auth)
    {
        if (AuthenticateAdmin(context, auth) is { } refusal)
        {
            return refusal;
        }

        try
        {
            return await ca.ActivateAsync(id) ? Results.Json(ca.ListRoots(), RegistryApiJsonContext.Default.CaRootsResponse) : NoSuchRoot(id);
        }
        catch (TimeoutException ex)
        {
            return FolderBusy(ex);
        }
    }

    internal static async Task<IResult> Remove(string id, HttpContext context, CertificateAuthority ca, RegistryAuth auth)
    {
        if (AuthenticateAdmin(context, auth) is { } refusal)
        {
            return refusal;
        }

        bool found, active;
        try
        {
            (found, active) = await ca.RemoveAsync(id);
        }
        catch (TimeoutException ex)
        {
            return FolderBusy(ex);
        }

        if (!found)
        {
            return NoSuchRoot(id);
        }

        return active
            ? Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Root is active",
                detail: $"Root '{id}' signs new certificates; activate another root before removing it.")
            : Results.Json(ca.ListRoots(), RegistryApiJsonContext.Default.CaRootsResponse);
    }

    private static IResult? Authenticate(HttpContext context, RegistryAuth auth, out RegistryCaller? caller)
    {
        caller = auth.Authenticate(context.Request, out var presented);
        if (caller is not null)
        {
            return null;
        }

        context.Response.Headers.WWWAuthenticate = presented ? "Bearer error=\"invalid_token\"" : "Bearer";
        return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized",
            detail: presented ? "The bearer token is not valid." : "A bearer token is required (Authorization: Bearer <token>).");
    }

    private static IResult? AuthenticateAdmin(HttpContext context, RegistryAuth auth)
    {
        if (Authenticate(context, auth, out var caller) is { } refusal)
        {
            return refusal;
        }

        return caller!.IsAdmin ? null : Forbidden("CA root changes need the admin token.");
    }

    /// <summary>Another replica held the CA folder's lock too long: the change was not made, and may be tried again.</summary>
    private static IResult FolderBusy(TimeoutException ex) =>
        Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "CA folder busy", detail: ex.Message);

    private static IResult Forbidden(string detail) =>
        Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden", detail: detail);

    private static IResult NoSuchRoot(string id) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such root", detail: $"The CA has no root '{Truncate(id)}'.");

    private static IResult Invalid(string field, string message) =>
        Results.ValidationProblem(new Dictionary<string, string[]>(StringComparer.Ordinal) { [field] = [message] }, title: "Invalid certificate request");

    private static string Truncate(string value) => value.Length <= 80 ? value : string.Concat(value.AsSpan(0, 80), "…");
}
