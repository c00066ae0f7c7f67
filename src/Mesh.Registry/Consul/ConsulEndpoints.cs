using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Mesh.Client.Registry;
using Mesh.Registry.Api;
using Mesh.Registry.Store;
using Mesh.Registry.Watches;
using Microsoft.Extensions.Options;

namespace Mesh.Registry.Consul;

/// <summary>
/// A read-only subset of Consul's HTTP API over the registry's instances, for Consul clients and tools:
/// <c>GET /v1/catalog/services</c>, <c>/v1/catalog/service/{name}</c>, <c>/v1/health/service/{name}</c> (with
/// <c>passing</c> and <c>tag</c>) and <c>/v1/agent/self</c>. Blocking queries (<c>index</c>, <c>wait</c>,
/// <c>X-Consul-Index</c>) are the registry's own watches: the catalog on the global index, a service on its instances'
/// index. Writes answer 405 naming the registry's own API; other Consul paths 404.
/// </summary>
internal static class ConsulEndpoints
{
    private const string RegistryApi =
        "The registry's Consul API is read-only; register with PUT /v1/services/{service}/instances/{id} and deregister with DELETE on the same path.";

    private static readonly string[] WriteMethods = [HttpMethods.Put, HttpMethods.Post, HttpMethods.Delete, HttpMethods.Patch];

    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/catalog/services", CatalogServicesAsync);
        v1.MapGet("/catalog/service/{service}", CatalogServiceAsync);
        v1.MapGet("/health/service/{service}", HealthServiceAsync);
        v1.MapGet("/agent/self", AgentSelf);
        foreach (var area in (string[])["catalog", "health", "agent"])
        {
            v1.MapMethods($"/{area}/{{**path}}", WriteMethods, ReadOnly);
            v1.MapGet($"/{area}/{{**path}}", NotServed);
        }
    }

    internal static async Task<IResult> CatalogServicesAsync(HttpContext context, IRegistryStore store, RegistryAuth auth,
        IOptions<RegistryOptions> options, WatchLimiter watches)
    {
        if (ConsulAccess.Refuse(context, auth, out var caller) is { } refusal)
        {
            return refusal;
        }

        if (!ConsulQuery.TryRead(context.Request, options.Value, out var query, out var problem))
        {
            return problem;
        }

        ServicesResponse catalog;
        try
        {
            catalog = await store.WatchServicesAsync(query.Index, query.Wait, WatchCaller.Of(caller!, context, watches), context.RequestAborted);
        }
        catch (TooManyWatchesException ex)
        {
            return TooManyWatches.Problem(context, ex);
        }

        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var service in catalog.Services)
            {
                if (service.Instances + service.HeldInstances == 0)
                {
                    continue;
                }

                // The service's tags are those of its instances, each once.
                var instances = await store.WatchInstancesAsync(service.Name, null, TimeSpan.Zero, WatchCaller.Unlimited, context.RequestAborted);
                var tags = new SortedSet<string>(StringComparer.Ordinal);
                foreach (var instance in instances.Instances)
                {
                    tags.UnionWith(ConsulInstance.From(instance, DateTimeOffset.MaxValue).Tags);
                }

                json.WriteStartArray(service.Name);
                foreach (var tag in tags)
                {
                    json.WriteStringValue(tag);
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
        }

        return Answer(context, buffer, catalog.Index);
    }

    internal static Task<IResult> CatalogServiceAsync(string service, HttpContext context, IRegistryStore store, RegistryAuth auth,
        IOptions<RegistryOptions> options, TimeProvider time, WatchLimiter watches) =>
        ServiceAsync(service, context, store, auth, options, time, watches, health: false);

    internal static Task<IResult> HealthServiceAsync(string service, HttpContext context, IRegistryStore store, RegistryAuth auth,
        IOptions<RegistryOptions> options, TimeProvider time, WatchLimiter watches) =>
        ServiceAsync(service, context, store, auth, options, time, watches, health: true);

    private static async Task<IResult> ServiceAsync(string service, HttpContext context, IRegistryStore store, RegistryAuth auth,
        IOptions<RegistryOptions> options, TimeProvider time, WatchLimiter watches, bool health)
    {
        if (ConsulAccess.Refuse(context, auth, out var caller) is { } refusal)
        {
            return refusal;
        }

        if (!ApiRequest.TryReadService(service, out var name, out var problem) ||
            !ConsulQuery.TryRead(context.Request, options.Value, out var query, out problem))
        {
            return problem;
        }

        InstancesResponse answer;
        try
        {
            answer = await store.WatchInstancesAsync(name, query.Index, query.Wait, WatchCaller.Of(caller!, context, watches), context.RequestAborted);
        }
        catch (TooManyWatchesException ex)
        {
            return TooManyWatches.Problem(context, ex);
        }

        var now = time.GetUtcNow();
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var record in answer.Instances)
            {
                var instance = ConsulInstance.From(record, now);
                if (!instance.HasTags(query.Tags) || (health && query.Passing && !instance.Passing))
                {
                    continue;
                }

                if (health)
                {
                    ConsulJson.WriteHealthEntry(json, instance, ConsulIndex(answer.Index));
                }
                else
                {
                    ConsulJson.WriteCatalogEntry(json, instance, ConsulIndex(answer.Index));
                }
            }

            json.WriteEndArray();
        }

        return Answer(context, buffer, answer.Index);
    }

    /// <summary>What clients read of the agent: its datacenter and name, enough for them to know where they are.</summary>
    internal static IResult AgentSelf(HttpContext context, RegistryAuth auth)
    {
        if (ConsulAccess.Refuse(context, auth) is { } refusal)
        {
            return refusal;
        }

        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("Config");
            json.WriteString("Datacenter", ConsulQuery.Datacenter);
            json.WriteString("PrimaryDatacenter", ConsulQuery.Datacenter);
            json.WriteString("NodeName", "mesh-registry");
            json.WriteString("NodeID", string.Empty);
            json.WriteBoolean("Server", true);
            json.WriteString("Revision", string.Empty);
            json.WriteString("Version", "1.17.0");
            json.WriteEndObject();
            json.WriteStartObject("Member");
            json.WriteString("Name", "mesh-registry");
            json.WriteString("Addr", context.Connection.LocalIpAddress?.ToString() ?? string.Empty);
            json.WriteNumber("Port", context.Connection.LocalPort);
            json.WriteStartObject("Tags");
            json.WriteString("dc", ConsulQuery.Datacenter);
            json.WriteString("role", "consul");
            json.WriteEndObject();
            json.WriteNumber("Status", 1);
            json.WriteEndObject();
            json.WriteStartObject("Meta");
            json.WriteString("mesh-registry", "true");
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return Results.Bytes(buffer.WrittenMemory.ToArray(), "application/json");
    }

    internal static IResult ReadOnly(HttpContext context)
    {
        context.Response.Headers.Allow = HttpMethods.Get;
        return Results.Problem(statusCode: StatusCodes.Status405MethodNotAllowed, title: "Read-only Consul API", detail: RegistryApi);
    }

    internal static IResult NotServed(string path) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not served",
            detail: $"The registry serves Consul's GET /v1/catalog/services, /v1/catalog/service/{{name}}, /v1/health/service/{{name}} " +
                $"and /v1/agent/self, not '{ApiRequest.Truncate(path)}'.");

    /// <summary>Consul clients take an index of 0 as "no index" and never block on it: the registry's first index is 1.</summary>
    private static long ConsulIndex(long index) => Math.Max(1, index);

    private static IResult Answer(HttpContext context, ArrayBufferWriter<byte> body, long index)
    {
        var headers = context.Response.Headers;
        headers["X-Consul-Index"] = ConsulIndex(index).ToString(CultureInfo.InvariantCulture);
        headers["X-Consul-KnownLeader"] = "true";
        headers["X-Consul-LastContact"] = "0";
        return Results.Bytes(body.WrittenMemory.ToArray(), "application/json");
    }
}
