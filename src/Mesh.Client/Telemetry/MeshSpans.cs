using System.Collections.Concurrent;
using System.Diagnostics;
using Mesh.Client.LoadBalancing;

namespace Mesh.Client.Telemetry;

/// <summary>
/// The mesh's span: one client span per logical call, named <c>{method} {service}</c>. The HTTP client span per
/// attempt is what .NET's own <c>System.Net.Http</c> source emits below it (OpenTelemetry's HTTP conventions put
/// <c>http.request.resend_count</c> there), so the mesh does not make one of its own: the endpoint of the last attempt
/// is on the call span as <c>network.peer.address</c>, and each attempt that was retried is a <c>mesh.attempt</c> event on it.
/// </summary>
/// <remarks>
/// A span costs an <see cref="Activity"/>, a node per tag and the ambient context switch; a second span per call
/// doubled all of it for data that only differs when a retry happens. Tags are set only when the span's data is
/// requested (not for a span sampled for propagation alone), display names are kept per service, and status codes
/// and ports are boxed once.
/// </remarks>
internal static class MeshSpans
{
    private const string TraceParent = "traceparent";

    private const string RpcSystem = "rpc.system";

    private static readonly ConcurrentDictionary<string, DisplayNames> Names = new(StringComparer.Ordinal);

    private static readonly Func<string, DisplayNames> CreateNames = static service => new DisplayNames(service);

    private static readonly HttpMethod[] StandardMethods =
    [
        HttpMethod.Get, HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch, HttpMethod.Head,
        HttpMethod.Options, HttpMethod.Trace, HttpMethod.Connect,
    ];

    private static readonly Type DefaultPropagatorType = DistributedContextPropagator.CreateDefaultPropagator().GetType();

    /// <summary>Starts the call span, or returns null when nobody listens to <see cref="MeshTelemetry.ActivitySourceName"/>.</summary>
    public static Activity? StartCall(HttpRequestMessage request, Uri uri, string service, string route)
    {
        var method = request.Method;
        var activity = MeshTelemetry.ActivitySource.StartActivity(ActivityKind.Client, name: service);
        if (activity is null || !activity.IsAllDataRequested)
        {
            return activity;
        }

        activity.DisplayName = Names.GetOrAdd(service, CreateNames).For(method);
        if (StandardMethod(method) is { } standard)
        {
            activity.AddTag("http.request.method", standard);
            if (!ReferenceEquals(standard, method.Method) && !string.Equals(standard, method.Method, StringComparison.Ordinal))
            {
                activity.AddTag("http.request.method_original", method.Method);
            }
        }
        else
        {
            activity.AddTag("http.request.method", OtherMethod);
            activity.AddTag("http.request.method_original", method.Method);
        }

        activity.AddTag("url.full", RedactedUrl(uri));
        activity.AddTag("server.address", uri.IdnHost);
        activity.AddTag("server.port", MeshTelemetry.Box(uri.Port));
        activity.AddTag("mesh.route", route);
        if (IsGrpcRequest(request))
        {
            AddRpcTags(activity, uri.AbsolutePath);
        }

        return activity;
    }

    /// <summary>
    /// The URL as <c>url.full</c> holds it, the way .NET's own HTTP client span writes it: without user info, and with
    /// the query's values hidden (<c>?*</c>), since query strings carry tokens and signatures that the trace backend
    /// must not keep. A URL with neither (the common case) is returned as it is, without a copy.
    /// </summary>
    internal static string RedactedUrl(Uri uri)
    {
        var original = uri.OriginalString;
        if (original.AsSpan().IndexOfAny('?', '@') < 0)
        {
            return original;
        }

        var url = uri.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped);
        return uri.Query.Length > 1 ? url + "?*" : url;
    }

    /// <summary>What OpenTelemetry's HTTP conventions record for a method outside HTTP's standard set.</summary>
    internal const string OtherMethod = "_OTHER";

    /// <summary>
    /// The method's standard upper-case name (GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH; HttpMethod
    /// compares them ignoring case), or null for any other method.
    /// </summary>
    internal static string? StandardMethod(HttpMethod method)
    {
        foreach (var known in StandardMethods)
        {
            if (method == known)
            {
                return known.Method;
            }
        }

        return null;
    }

    /// <summary>The endpoint an attempt goes to: the peer the call span reports is the last one tried.</summary>
    public static void AttemptStarted(Activity? call, EndpointState endpoint)
    {
        if (call is null || !call.IsAllDataRequested)
        {
            return;
        }

        call.SetTag("network.peer.address", endpoint.Address.Host);
        call.SetTag("mesh.destination.version", endpoint.Version);
    }

    /// <summary>An attempt that is retried: what it got, as a <c>mesh.attempt</c> event. Only paid when a retry happens.</summary>
    public static void AttemptRetried(Activity? call, int attempt, EndpointState? endpoint, HttpResponseMessage? response, Exception? error)
    {
        if (call is null || !call.IsAllDataRequested)
        {
            return;
        }

        var tags = new ActivityTagsCollection
        {
            { "http.request.resend_count", MeshTelemetry.Box(attempt - 1) },
        };
        if (endpoint is not null)
        {
            tags.Add("network.peer.address", endpoint.Address.Host);
            tags.Add("mesh.destination.version", endpoint.Version);
        }

        if (response is not null)
        {
            tags.Add("http.response.status_code", MeshTelemetry.Box((int)response.StatusCode));
        }

        if (error is not null)
        {
            tags.Add("error.type", error.GetType().FullName);
        }

        call.AddEvent(new ActivityEvent("mesh.attempt", tags: tags));
    }

    /// <summary>
    /// A hedge started on <paramref name="endpoint"/> beside attempts still waiting for an answer, as a <c>mesh.hedge</c>
    /// event; <paramref name="hedge"/> counts the hedges of the attempt from 1. Only paid on a route that hedges.
    /// </summary>
    public static void AttemptHedged(Activity? call, int hedge, EndpointState endpoint)
    {
        if (call is null || !call.IsAllDataRequested)
        {
            return;
        }

        var tags = new ActivityTagsCollection
        {
            { "mesh.hedge", MeshTelemetry.Box(hedge) },
            { "network.peer.address", endpoint.Address.Host },
            { "mesh.destination.version", endpoint.Version },
        };
        call.AddEvent(new ActivityEvent("mesh.hedge", tags: tags));
    }

    /// <summary>
    /// The call's outcome: the final status code and, for a gRPC call, its status (from the headers of a trailers-only
    /// response or from the trailers; empty when none came). How many attempts it took is the number of
    /// <c>mesh.attempt</c> events plus one.
    /// </summary>
    public static void CallEnded(Activity? call, int statusCode, string grpcStatus)
    {
        if (call is null || !call.IsAllDataRequested)
        {
            return;
        }

        if (statusCode != 0)
        {
            call.AddTag("http.response.status_code", MeshTelemetry.Box(statusCode));
        }

        if (MeshTelemetry.GrpcStatusCode(grpcStatus) is var code and >= 0 && call.GetTagItem(RpcSystem) is not null)
        {
            call.AddTag("rpc.grpc.status_code", MeshTelemetry.Box(code));
            if (code != 0)
            {
                // OpenTelemetry's gRPC conventions: on the client every status but OK is an error.
                call.SetStatus(ActivityStatusCode.Error);
            }
        }
    }

    /// <summary>A gRPC request, as Grpc.Net.Client sends it: <c>application/grpc</c> and its <c>+proto</c>/<c>+json</c> forms.</summary>
    private static bool IsGrpcRequest(HttpRequestMessage request)
    {
        if (request.Content?.Headers.ContentType?.MediaType is not { } mediaType)
        {
            return false;
        }

        const string Grpc = "application/grpc";
        return mediaType.StartsWith(Grpc, StringComparison.OrdinalIgnoreCase) && (mediaType.Length == Grpc.Length || mediaType[Grpc.Length] == '+');
    }

    /// <summary>OpenTelemetry's RPC attributes from a gRPC path, <c>/{package.Service}/{Method}</c>.</summary>
    private static void AddRpcTags(Activity activity, string path)
    {
        activity.AddTag(RpcSystem, "grpc");
        var slash = path.IndexOf('/', 1);
        if (path.Length > 1 && path[0] == '/' && slash > 1 && slash < path.Length - 1)
        {
            activity.AddTag("rpc.service", path[1..slash]);
            activity.AddTag("rpc.method", path[(slash + 1)..]);
        }
    }

    /// <summary>
    /// Writes the current span into the request so that the backend continues the trace. With the default W3C
    /// propagator and nothing but a traceparent to send, the header is written straight from the ids: the
    /// propagator would first build the span's <see cref="Activity.Id"/> and the hex strings of both ids.
    /// </summary>
    public static void InjectTraceContext(HttpRequestMessage request)
    {
        if (Activity.Current is not { } current)
        {
            return;
        }

        var propagator = DistributedContextPropagator.Current;
        if (current.IdFormat == ActivityIdFormat.W3C && propagator.GetType() == DefaultPropagatorType &&
            current.TraceStateString is null && !HasBaggage(current))
        {
            var headers = request.Headers;
            headers.Remove(TraceParent);
            headers.TryAddWithoutValidation(TraceParent, TraceParentOf(current));
            return;
        }

        propagator.Inject(current, request, static (carrier, name, value) =>
        {
            var headers = ((HttpRequestMessage)carrier!).Headers;
            headers.Remove(name);
            headers.TryAddWithoutValidation(name, value);
        });
    }

    private static bool HasBaggage(Activity activity)
    {
        // Baggage walks the parents itself; with none anywhere it is an empty array, whose enumerator is shared.
        using var items = activity.Baggage.GetEnumerator();
        return items.MoveNext();
    }

    /// <summary><c>00-{trace id}-{span id}-{flags}</c>, as the W3C propagator writes it.</summary>
    internal static string TraceParentOf(Activity activity) =>
        string.Create(55, activity, static (chars, a) =>
        {
            Span<byte> id = stackalloc byte[16];
            "00-".CopyTo(chars);
            a.TraceId.CopyTo(id);
            Convert.TryToHexStringLower(id, chars[3..35], out _);
            chars[35] = '-';
            a.SpanId.CopyTo(id[..8]);
            Convert.TryToHexStringLower(id[..8], chars[36..52], out _);
            chars[52] = '-';
            chars[53] = '0';
            chars[54] = (a.ActivityTraceFlags & ActivityTraceFlags.Recorded) != 0 ? '1' : '0';
        });
}
