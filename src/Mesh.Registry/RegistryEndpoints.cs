using System.Globalization;
using System.Text.Json;
using Mesh.Client;
using Mesh.Client.Registry;
using Mesh.Registry.Ca;
using Mesh.Registry.Contracts;
using Mesh.Registry.Dashboard;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Mesh.Registry;

/// <summary>
/// The registry's HTTP API (see <c>src/Mesh.Registry/README.md</c>): instances with leases and long-poll watches,
/// versioned policies validated with the very code clients run, bearer-token auth. JSON is camelCase; every error is
/// <c>application/problem+json</c> naming the fields at fault.
/// </summary>
internal static class RegistryEndpoints
{
    /// <summary>See <see cref="MeshRegistryHostingExtensions.AddMeshRegistry"/>.</summary>
    public static IServiceCollection AddServices(IServiceCollection services)
    {
        services.AddProblemDetails();
        services.AddHealthChecks();
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(new RegistryConsole(Console.Out));
        services.AddOptions<RegistryOptions>().BindConfiguration(RegistryOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RegistryOptions>, RegistryOptionsValidator>());
        services.TryAddSingleton<RegistryState>();
        services.TryAddSingleton<JoinTokenStore>();
        services.TryAddSingleton<AuthFailureLimiter>();
        services.TryAddSingleton<RegistryAuth>();
        services.TryAddSingleton<CertificateAuthority>();
        services.TryAddSingleton<RegistryServerCertificate>();
        services.TryAddSingleton<RegistryCertificateAuth>();
        RegistryKestrelSetup.Add(services);
        services.AddHostedService<CaFingerprintAnnouncer>();
        services.TryAddSingleton<TrafficStatsStore>();
        services.AddHostedService<RegistryStartup>();
        return services;
    }

    /// <summary>See <see cref="MeshRegistryHostingExtensions.MapMeshRegistry"/>.</summary>
    public static WebApplication Map(WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseMiddleware<AuthFailureLimitMiddleware>();
        app.MapHealthChecks("/healthz");

        var v1 = app.MapGroup("/v1");
        v1.MapGet("/services", ListServicesAsync);
        v1.MapPut("/services/{service}/instances/{id}", RegisterAsync);
        v1.MapDelete("/services/{service}/instances/{id}", Deregister);
        v1.MapGet("/services/{service}/instances", WatchInstancesAsync);
        v1.MapGet("/policies/{service}", WatchPolicyAsync);
        v1.MapPut("/policies/{service}", PutPolicyAsync);
        v1.MapDelete("/policies/{service}", DeletePolicy);
        v1.MapPost("/policies/{service}/validate", ValidatePolicyAsync);
        v1.MapGet("/policies/{service}/history", History);
        v1.MapPost("/policies/{service}/rollback", Rollback);
        CaEndpoints.Map(v1);
        JoinTokenEndpoints.Map(v1);
        v1.MapGet("/dashboard", Dashboard);
        app.MapMeshDashboard();
        return app;
    }

    internal static async Task<IResult> ListServicesAsync(HttpContext context, RegistryState state, RegistryAuth auth, IOptions<RegistryOptions> options)
    {
        if (Refuse(context, auth, Access.Read, null) is { } refusal)
        {
            return refusal;
        }

        if (!TryReadWatch(context.Request, options.Value, out var index, out var wait, out var problem))
        {
            return problem;
        }

        var answer = await state.WatchServicesAsync(index, wait, context.RequestAborted);
        return Json(context, answer, answer.Index, RegistryJsonContext.Default.ServicesResponse);
    }

    internal static async Task<IResult> RegisterAsync(string service, string id, HttpContext context, RegistryState state, RegistryAuth auth,
        TrafficStatsStore traffic)
    {
        if (Refuse(context, auth, Access.Register, service, out var caller) is { } refusal)
        {
            return refusal;
        }

        var errors = new Errors();
        CheckName(errors, "service", service, "service name");
        CheckName(errors, "id", id, "instance id");
        if (errors.Any)
        {
            return errors.Problem("Invalid registration");
        }

        var (body, bodyProblem) = await RequestBody.ReadAsync(context.Request, RegistryDefaults.MaxRegistrationBytes, context.RequestAborted);
        if (bodyProblem is not null)
        {
            return bodyProblem;
        }

        var registration = ReadRegistration(body!, errors, out var stats);
        if (registration is null)
        {
            return errors.Problem("Invalid registration");
        }

        if (VersionRefusal(caller!, registration) is { } versionRefusal)
        {
            return versionRefusal;
        }

        var (record, created, index) = await state.RegisterAsync(RegistryNames.Service(service), id, registration);
        if (stats is not null)
        {
            traffic.Record(RegistryNames.Service(service), id, stats);
        }

        return Json(context, record, index, RegistryJsonContext.Default.InstanceRecord, created ? StatusCodes.Status201Created : StatusCodes.Status200OK);
    }

    internal static IResult Deregister(string service, string id, HttpContext context, RegistryState state, RegistryAuth auth, TrafficStatsStore traffic)
    {
        if (Refuse(context, auth, Access.Register, service) is { } refusal)
        {
            return refusal;
        }

        var errors = new Errors();
        CheckName(errors, "service", service, "service name");
        CheckName(errors, "id", id, "instance id");
        if (errors.Any)
        {
            return errors.Problem("Invalid instance");
        }

        traffic.Remove(RegistryNames.Service(service), id);
        return state.Deregister(RegistryNames.Service(service), id)
            ? Results.NoContent()
            : Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such instance",
                detail: $"Service '{RegistryNames.Service(service)}' has no instance '{id}'.");
    }

    internal static async Task<IResult> WatchInstancesAsync(string service, HttpContext context, RegistryState state, RegistryAuth auth,
        IOptions<RegistryOptions> options)
    {
        if (Refuse(context, auth, Access.Read, null) is { } refusal)
        {
            return refusal;
        }

        if (!TryReadService(service, out var name, out var problem) || !TryReadWatch(context.Request, options.Value, out var index, out var wait, out problem))
        {
            return problem;
        }

        var answer = await state.WatchInstancesAsync(name, index, wait, context.RequestAborted);
        return Json(context, answer, answer.Index, RegistryJsonContext.Default.InstancesResponse);
    }

    internal static async Task<IResult> WatchPolicyAsync(string service, HttpContext context, RegistryState state, RegistryAuth auth,
        IOptions<RegistryOptions> options)
    {
        if (Refuse(context, auth, Access.Read, null) is { } refusal)
        {
            return refusal;
        }

        if (!TryReadService(service, out var name, out var problem) || !TryReadWatch(context.Request, options.Value, out var index, out var wait, out problem))
        {
            return problem;
        }

        var answer = await state.WatchPolicyAsync(name, index, wait, context.RequestAborted);
        return Json(context, answer, answer.Index, RegistryJsonContext.Default.PolicyResponse);
    }

    internal static async Task<IResult> PutPolicyAsync(string service, HttpContext context, RegistryState state, RegistryAuth auth, ILogger<RegistryState> logger)
    {
        if (Refuse(context, auth, Access.Admin, service) is { } refusal)
        {
            return refusal;
        }

        if (!TryReadService(service, out var name, out var problem))
        {
            return problem;
        }

        var (document, invalid) = await ReadPolicyAsync(context, logger);
        if (invalid is not null)
        {
            return invalid;
        }

        var (_, policy) = state.PutPolicy(name, document!);
        return Json(context, policy, policy.Index, RegistryJsonContext.Default.PolicyResponse);
    }

    internal static IResult DeletePolicy(string service, HttpContext context, RegistryState state, RegistryAuth auth)
    {
        if (Refuse(context, auth, Access.Admin, service) is { } refusal)
        {
            return refusal;
        }

        if (!TryReadService(service, out var name, out var problem))
        {
            return problem;
        }

        var (outcome, policy) = state.DeletePolicy(name);
        return outcome == PolicyOutcome.NotFound
            ? Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No policy", detail: $"Service '{name}' has no policy to delete.")
            : Json(context, policy, policy.Index, RegistryJsonContext.Default.PolicyResponse);
    }

    internal static async Task<IResult> ValidatePolicyAsync(string service, HttpContext context, RegistryAuth auth, ILogger<RegistryState> logger)
    {
        if (Refuse(context, auth, Access.Read, null) is { } refusal)
        {
            return refusal;
        }

        if (!TryReadService(service, out _, out var problem))
        {
            return problem;
        }

        var (_, invalid) = await ReadPolicyAsync(context, logger);
        return invalid ?? Results.Json(new PolicyValidationResponse { Valid = true }, RegistryApiJsonContext.Default.PolicyValidationResponse);
    }

    internal static IResult History(string service, HttpContext context, RegistryState state, RegistryAuth auth)
    {
        if (Refuse(context, auth, Access.Read, null) is { } refusal)
        {
            return refusal;
        }

        if (!TryReadService(service, out var name, out var problem))
        {
            return problem;
        }

        var errors = new Errors();
        var limit = ReadLong(context.Request, "limit", errors, 1, RegistryDefaults.MaxHistory) ?? RegistryDefaults.DefaultHistory;
        if (errors.Any)
        {
            return errors.Problem("Invalid query");
        }

        return Results.Json(state.History(name, (int)limit), RegistryApiJsonContext.Default.PolicyHistoryResponse);
    }

    internal static IResult Rollback(string service, HttpContext context, RegistryState state, RegistryAuth auth, ILogger<RegistryState> logger)
    {
        if (Refuse(context, auth, Access.Admin, service) is { } refusal)
        {
            return refusal;
        }

        if (!TryReadService(service, out var name, out var problem))
        {
            return problem;
        }

        var errors = new Errors();
        var version = ReadLong(context.Request, "version", errors, 1, long.MaxValue);
        if (version is null && !errors.Any)
        {
            errors.Add("version", "required: the policy version to go back to");
        }

        if (errors.Any)
        {
            return errors.Problem("Invalid rollback");
        }

        var target = state.GetPolicyVersion(name, version!.Value);
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
        var validation = Validate(System.Text.Encoding.UTF8.GetBytes(target.Document), logger);
        if (validation.Count > 0)
        {
            return Results.ValidationProblem(PolicyDocument.ToProblemErrors(validation), title: $"Policy version {version} no longer validates");
        }

        var (_, policy) = state.Rollback(name, target);
        return Json(context, policy, policy.Index, RegistryJsonContext.Default.PolicyResponse);
    }

    /// <summary>Services, instances, policy versions and the service graph in one read; admin only, as it maps the whole mesh.</summary>
    internal static IResult Dashboard(HttpContext context, RegistryState state, RegistryAuth auth, TrafficStatsStore traffic)
    {
        if (Refuse(context, auth, Access.Admin, null) is { } refusal)
        {
            return refusal;
        }

        var answer = traffic.Complete(state.DashboardSnapshot());
        context.Response.Headers.CacheControl = "no-store";
        return Json(context, answer, answer.Index, RegistryApiJsonContext.Default.DashboardResponse);
    }

    private enum Access
    {
        Read,
        Register,
        Admin,
    }

    /// <summary>401 without a valid token, 403 when the token may not do this; null when the call may go ahead.</summary>
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
                ? $"{authority} carries no version; register without one, not '{Truncate(claimed)}'."
                : $"{authority} is for version '{bound}' of '{caller.Service}'; it cannot register version '{Truncate(claimed)}'.");
    }

    private static IResult? Refuse(HttpContext context, RegistryAuth auth, Access access, string? service) =>
        Refuse(context, auth, access, service, out _);

    private static IResult? Refuse(HttpContext context, RegistryAuth auth, Access access, string? service, out RegistryCaller? caller)
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
            Access.Read => true,
            Access.Register => caller.MayRegister(RegistryNames.Service(service!)),
            _ => caller.IsAdmin,
        };
        if (allowed)
        {
            return null;
        }

        return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden",
            detail: access == Access.Admin
                ? "Policy changes need the admin token."
                : $"This join token is for service '{caller.Service}', not '{Truncate(RegistryNames.Service(service!))}'.");
    }

    private static IResult Json<T>(HttpContext context, T value, long index, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type,
        int status = StatusCodes.Status200OK)
    {
        context.Response.Headers[RegistryHeaders.Index] = index.ToString(CultureInfo.InvariantCulture);
        return Results.Json(value, type, statusCode: status);
    }

    private static bool TryReadService(string service, out string name, out IResult problem)
    {
        var errors = new Errors();
        CheckName(errors, "service", service, "service name");
        name = errors.Any ? string.Empty : RegistryNames.Service(service);
        problem = errors.Any ? errors.Problem("Invalid service") : Results.Empty;
        return !errors.Any;
    }

    private static void CheckName(Errors errors, string field, string value, string what)
    {
        if (!MeshPolicyValidation.IsValidName(value))
        {
            errors.Add(field, $"'{Truncate(value)}' is not a valid {what} (letters, digits, '-', '_' and '.', at most 63 characters)");
        }
    }

    /// <summary>Reads <c>index</c> (absent: answer at once) and <c>wait</c> (e.g. <c>30s</c>, <c>500ms</c>, <c>2m</c>; capped).</summary>
    private static bool TryReadWatch(HttpRequest request, RegistryOptions options, out long? index, out TimeSpan wait, out IResult problem)
    {
        var errors = new Errors();
        index = ReadLong(request, "index", errors, 0, long.MaxValue);
        wait = options.DefaultWatchWait;
        if (Single(request, "wait", errors) is { } text)
        {
            if (WatchWait.TryParse(text, out var parsed))
            {
                wait = parsed > options.MaxWatchWait ? options.MaxWatchWait : parsed;
            }
            else
            {
                errors.Add("wait", $"'{Truncate(text)}' is not a duration such as 30s, 500ms, 2m or 1h");
            }
        }

        problem = errors.Any ? errors.Problem("Invalid watch") : Results.Empty;
        return !errors.Any;
    }

    private static long? ReadLong(HttpRequest request, string name, Errors errors, long min, long max)
    {
        if (Single(request, name, errors) is not { } text)
        {
            return null;
        }

        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            errors.Add(name, $"'{Truncate(text)}' must be a whole number from {min} to {max}");
            return null;
        }

        return value;
    }

    private static string? Single(HttpRequest request, string name, Errors errors)
    {
        var values = request.Query[name];
        if (values.Count > 1)
        {
            errors.Add(name, "given more than once");
            return null;
        }

        return values.Count == 1 ? values[0] : null;
    }

    private static Registration? ReadRegistration(byte[] body, Errors errors, out TrafficStats? stats)
    {
        stats = null;
        if (!System.Text.Unicode.Utf8.IsValid(body))
        {
            errors.Add("body", "not valid UTF-8");
            return null;
        }

        InstanceRegistration? r;
        try
        {
            r = JsonSerializer.Deserialize(body, RegistryJsonContext.Default.InstanceRegistration);
        }
        catch (JsonException ex)
        {
            errors.Add(JsonField(ex.Path), ex.Message);
            return null;
        }

        if (r is null)
        {
            errors.Add("body", "expected a JSON object");
            return null;
        }

        string? address = null;
        if (string.IsNullOrEmpty(r.Address))
        {
            errors.Add("address", "required: the absolute http or https URL the instance serves at, e.g. http://10.0.0.5:8080");
        }
        else if (r.Address.Length > RegistryDefaults.MaxAddressLength || !Uri.TryCreate(r.Address, UriKind.Absolute, out var uri) ||
                 (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || string.IsNullOrEmpty(uri.Host) ||
                 uri.UserInfo.Length > 0 || uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            errors.Add("address", $"'{Truncate(r.Address)}' must be an absolute http or https URL without a path, query or user info");
        }
        else
        {
            address = uri.GetLeftPart(UriPartial.Authority);
        }

        if (r.Version is not null && !MeshPolicyValidation.IsValidName(r.Version))
        {
            errors.Add("version", $"'{Truncate(r.Version)}' is not a valid version (letters, digits, '-', '_' and '.', at most 63 characters)");
        }

        if (r.Zone is not null && !MeshPolicyValidation.IsValidName(r.Zone))
        {
            errors.Add("zone", $"'{Truncate(r.Zone)}' is not a valid zone (letters, digits, '-', '_' and '.', at most 63 characters)");
        }

        // Subset selectors match label keys ignoring case, so two keys that differ only by case would be one label
        // read two ways: refused here.
        var labels = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (r.Labels is not null)
        {
            if (r.Labels.Count > RegistryDefaults.MaxLabels)
            {
                errors.Add("labels", $"{r.Labels.Count} labels; at most {RegistryDefaults.MaxLabels}");
            }
            else
            {
                foreach (var (key, value) in r.Labels)
                {
                    if (!IsLabelKey(key))
                    {
                        errors.Add("labels", $"'{Truncate(key)}' is not a valid label key (letters, digits, '-', '_', '.' and '/', at most 128 characters)");
                    }
                    else if (value is null || value.Length > RegistryDefaults.MaxLabelValueLength || value.Any(char.IsControl))
                    {
                        errors.Add($"labels.{key}", $"must be a string of at most {RegistryDefaults.MaxLabelValueLength} characters without control characters");
                    }
                    else if (!labels.TryAdd(key, value))
                    {
                        errors.Add($"labels.{key}", "the same key as another label but for letter case; label keys ignore case");
                    }
                }
            }
        }

        if (r.TtlSeconds is < RegistryDefaults.MinTtlSeconds or > RegistryDefaults.MaxTtlSeconds)
        {
            errors.Add("ttlSeconds", $"{r.TtlSeconds} must be between {RegistryDefaults.MinTtlSeconds} and {RegistryDefaults.MaxTtlSeconds}");
        }

        if (r.Stats is not null)
        {
            CheckStats(r.Stats, errors);
        }

        stats = errors.Any ? null : r.Stats;
        return errors.Any ? null : new Registration(address!, r.Version, r.Zone, labels, r.TtlSeconds);
    }

    /// <summary>Traffic numbers are shown to operators: names must be names and numbers must be sane, or the renewal is refused.</summary>
    private static void CheckStats(TrafficStats stats, Errors errors)
    {
        if (!double.IsFinite(stats.WindowSeconds) || stats.WindowSeconds <= 0 || stats.WindowSeconds > RegistryDefaults.MaxTtlSeconds)
        {
            errors.Add("stats.windowSeconds", $"must be more than 0 and at most {RegistryDefaults.MaxTtlSeconds}");
        }

        var destinations = stats.Destinations ?? [];
        if (destinations.Count > RegistryDefaults.MaxStatsDestinations)
        {
            errors.Add("stats.destinations", $"{destinations.Count} destinations; at most {RegistryDefaults.MaxStatsDestinations}");
            return;
        }

        for (var i = 0; i < destinations.Count; i++)
        {
            var path = $"stats.destinations[{i}]";
            var d = destinations[i];
            if (d is null)
            {
                errors.Add(path, "must be an object");
                continue;
            }

            if (!MeshPolicyValidation.IsValidName(d.Service))
            {
                errors.Add($"{path}.service", $"'{Truncate(d.Service ?? string.Empty)}' is not a valid service name");
            }

            if (d.Version is not null && !MeshPolicyValidation.IsValidName(d.Version))
            {
                errors.Add($"{path}.version", $"'{Truncate(d.Version)}' is not a valid version");
            }

            if (d.Requests is < 0 or > RegistryDefaults.MaxStatsCount)
            {
                errors.Add($"{path}.requests", $"{d.Requests} must be from 0 to {RegistryDefaults.MaxStatsCount}");
            }

            if (d.Errors < 0 || d.Errors > d.Requests)
            {
                errors.Add($"{path}.errors", $"{d.Errors} must be from 0 to requests ({d.Requests})");
            }

            CheckMilliseconds(errors, $"{path}.p50Ms", d.P50Ms);
            CheckMilliseconds(errors, $"{path}.p99Ms", d.P99Ms);
        }
    }

    private static void CheckMilliseconds(Errors errors, string path, double? value)
    {
        if (value is { } v && (!double.IsFinite(v) || v < 0 || v > RegistryDefaults.MaxStatsMilliseconds))
        {
            errors.Add(path, $"must be from 0 to {RegistryDefaults.MaxStatsMilliseconds} ms");
        }
    }

    private static bool IsLabelKey(string key) =>
        key.Length is > 0 and <= 128 && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/');

    /// <summary>Reads and validates a policy document; on success the canonical (compact) JSON to store.</summary>
    private static async Task<(string? Document, IResult? Problem)> ReadPolicyAsync(HttpContext context, ILogger logger)
    {
        var (body, bodyProblem) = await RequestBody.ReadAsync(context.Request, RegistryDefaults.MaxPolicyBytes, context.RequestAborted);
        if (bodyProblem is not null)
        {
            return (null, bodyProblem);
        }

        // JSON is UTF-8; refusing anything else here keeps malformed text away from the reader and the store.
        var errors = System.Text.Unicode.Utf8.IsValid(body) ? Validate(body!, logger) : ["document: not valid UTF-8"];
        if (errors.Count > 0)
        {
            return (null, Results.ValidationProblem(PolicyDocument.ToProblemErrors(errors), title: "Invalid policy document"));
        }

        return (PolicyDocument.Canonical(body!), null);
    }

    /// <summary>The client's own reader and validator: a document the registry accepts is one every client accepts.</summary>
    private static List<string> Validate(byte[] body, ILogger logger)
    {
        try
        {
            using var stream = new MemoryStream(body, writable: false);
            return [.. MeshPolicyValidation.Validate(stream)];
        }
#pragma warning disable CA1031 // a reader bug must be a 400 that names it, never a 500 or a stored document
        catch (Exception ex)
#pragma warning restore CA1031
        {
            logger.LogWarning(ex, "The policy reader failed on a document; refusing it");
            return [$"document: could not be read ({ex.GetType().Name})"];
        }
    }

    private static string JsonField(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return "body";
        }

        return path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
    }

    private static string Truncate(string value) => value.Length <= 80 ? value : string.Concat(value.AsSpan(0, 80), "…");

    /// <summary>Field → messages, answered as a validation problem.</summary>
    private sealed class Errors
    {
        private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

        public bool Any => _errors.Count > 0;

        public void Add(string field, string message)
        {
            if (!_errors.TryGetValue(field, out var list))
            {
                _errors[field] = list = [];
            }

            list.Add(message);
        }

        public IResult Problem(string title) =>
            Results.ValidationProblem(_errors.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal), title: title);
    }
}
