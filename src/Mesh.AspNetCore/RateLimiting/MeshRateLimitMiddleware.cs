using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.Json;
using System.Threading.RateLimiting;
using Mesh.AspNetCore.Security;
using Mesh.AspNetCore.Telemetry;
using Mesh.Client.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Mesh.AspNetCore.RateLimiting;

/// <summary>
/// Inbound rate limits (<c>Mesh:RateLimits</c>, then this service's policy's <c>RateLimits</c>), after authorization,
/// so the caller is the identity its mTLS certificate proved and a denied request spends no permit. Every rule that
/// matches a request must let it through, as all of Envoy's matching local rate limit descriptors must; rules are tried
/// in order and the first that refuses answers 429 with <c>Retry-After</c>, so later rules are not charged for it. A
/// refusal is counted on <c>mesh.rate_limited</c> (<c>rule</c>, <c>source_service</c>: the proven caller or
/// <c>unauthenticated</c>, <c>dry_run</c>); a dry-run rule logs and counts and lets the request go on. With no rules the
/// middleware reads one field and calls the next.
/// </summary>
internal sealed partial class MeshRateLimitMiddleware : IMiddleware
{
    public const string MeterName = "Mesh.AspNetCore";

    private readonly ILogger _logger;
    private readonly Counter<long> _limited;
    private readonly Lock _rebuild = new();
    private volatile RateLimitTable? _table;

    public MeshRateLimitMiddleware(MeshInbound inbound, TimeProvider time, IMeterFactory meters, ILogger<MeshRateLimitMiddleware> logger)
    {
        _logger = logger;
        _limited = meters.Create(MeterName).CreateCounter<long>("mesh.rate_limited", "{request}",
            "Inbound requests refused by a rate limit rule (or that would be, in dry run).");

        // Rebuilt off the request path when the configuration or this service's policy changes; unchanged rules keep
        // their limiters, so a reload does not hand every caller a fresh burst.
        _table = RateLimitTable.Build(inbound.Model.RateLimitRules, null, time);
        inbound.ModelChanged += model =>
        {
            lock (_rebuild)
            {
                _table = RateLimitTable.Build(model.RateLimitRules, _table, time);
            }
        };
    }

    /// <summary>The rules in force; null when there are none.</summary>
    public RateLimitTable? Table => _table;

    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var table = _table;
        return table is null ? next(context) : LimitAsync(table, context, next);
    }

    private Task LimitAsync(RateLimitTable table, HttpContext context, RequestDelegate next)
    {
        var caller = context.Features.Get<MeshPeerFeature>()?.Service;
        var method = context.Request.Method;
        // Without path rules the path does not matter, but the endpoint's methods do (see EndpointRoute.IsRewritten).
        var target = new AuthorizationTarget("/", EndpointRoute.Of(context.GetEndpoint()));
        var ambiguous = table.HasPathRules && !AuthorizationTarget.TryRead(context, out target);
        foreach (var rule in table.Rules)
        {
            if (!rule.Matches(caller, target, method, ambiguous))
            {
                continue;
            }

            using var lease = rule.Limiter.AttemptAcquire(caller);
            if (lease.IsAcquired)
            {
                continue;
            }

            var who = caller ?? "unauthenticated";
            _limited.Add(1, new KeyValuePair<string, object?>("rule", rule.Name), new KeyValuePair<string, object?>("source_service", who),
                new KeyValuePair<string, object?>("dry_run", rule.DryRun));
            if (rule.DryRun)
            {
                LogWouldLimit(_logger, rule.Name, who, method, AccessLogText.Path(context.Request));
                continue;
            }

            var retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : rule.Period;
            LogLimited(_logger, rule.Name, who, method, AccessLogText.Path(context.Request));
            return WriteTooManyRequestsAsync(context, rule.Name, retryAfter);
        }

        return next(context);
    }

    /// <summary>A 429 problem; <c>Retry-After</c> in whole seconds, rounded up and at least 1, so a retry at it finds a permit.</summary>
    private static async Task WriteTooManyRequestsAsync(HttpContext context, string rule, TimeSpan retryAfter)
    {
        var seconds = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds));
        var response = context.Response;
        response.StatusCode = StatusCodes.Status429TooManyRequests;
        response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        response.ContentType = "application/problem+json";
        var problem = new Dictionary<string, object?>
        {
            ["type"] = "https://tools.ietf.org/html/rfc6585#section-4",
            ["title"] = "Too Many Requests",
            ["status"] = StatusCodes.Status429TooManyRequests,
            ["detail"] = $"The mesh rate limit '{rule}' is exhausted; retry after {seconds} s.",
        };
        await response.WriteAsync(JsonSerializer.Serialize(problem, AuthorizationJson.Options));
    }

    [LoggerMessage(140, LogLevel.Information, "Mesh rate limit {Rule} refused {Caller}: {Method} {Path}")]
    private static partial void LogLimited(ILogger logger, string rule, string caller, string method, string path);

    [LoggerMessage(141, LogLevel.Warning, "Mesh rate limit dry run: {Rule} would refuse {Caller}: {Method} {Path}")]
    private static partial void LogWouldLimit(ILogger logger, string rule, string caller, string method, string path);
}
