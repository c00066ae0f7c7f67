using System.Text.Json;
using Mesh.Client.Registry;
using Mesh.Registry.Store;
using Mesh.Registry.Watches;

namespace Mesh.Registry.Prometheus;

/// <summary>
/// <c>GET /v1/prometheus/targets</c>: every live instance as a Prometheus HTTP service discovery target group
/// (<c>http_sd_configs</c>), one group per instance, under the registry's read access (Prometheus sends the token as
/// a bearer credential through <c>authorization.credentials</c>).
/// </summary>
/// <remarks>
/// The target is what the instance advertises for scraping: its metrics listener
/// (<see cref="MetricsAddressLabel"/>) when it has one, else its own address, whose scheme goes into
/// <c>__scheme__</c> (a Strict instance without a listener answers only mTLS, and the job then needs a
/// <c>tls_config</c> with a mesh certificate). Plain labels <c>service</c>, <c>version</c>, <c>zone</c> and
/// <c>instance_id</c> become labels of every scraped series without relabelling; the instance's own labels are
/// <c>__meta_mesh_label_&lt;key&gt;</c> (and the address <c>__meta_mesh_address</c>) for relabelling to pick, but for
/// those a <c>labelmap</c> would turn into scrape settings or identity (<see cref="IsReserved"/>).
/// </remarks>
internal static class PrometheusTargetEndpoints
{
    /// <summary>The label a workload registers with the URL of its metrics listener (<c>Mesh:Telemetry:MetricsListener</c>).</summary>
    public const string MetricsAddressLabel = MeshRegistryLabels.MetricsAddress;

    private const string MetaLabelPrefix = "__meta_mesh_label_";

    public static void Map(RouteGroupBuilder v1) => v1.MapGet("/prometheus/targets", TargetsAsync);

    internal static async Task<IResult> TargetsAsync(HttpContext context, IRegistryStore store, RegistryAuth auth)
    {
        if (ApiAuthorization.Refuse(context, auth, ApiAccess.Read, null) is { } refusal)
        {
            return refusal;
        }

        var catalog = await store.WatchServicesAsync(null, TimeSpan.Zero, WatchCaller.Unlimited, context.RequestAborted);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var service in catalog.Services)
            {
                var instances = await store.WatchInstancesAsync(service.Name, null, TimeSpan.Zero, WatchCaller.Unlimited, context.RequestAborted);
                foreach (var instance in instances.Instances)
                {
                    WriteGroup(json, instance);
                }
            }

            json.WriteEndArray();
        }

        context.Response.Headers.CacheControl = "no-store";
        return Results.Bytes(buffer.WrittenMemory.ToArray(), "application/json");
    }

    private static void WriteGroup(Utf8JsonWriter json, InstanceRecord instance)
    {
        var scrape = ScrapeAddress(instance);
        json.WriteStartObject();
        json.WriteStartArray("targets");
        json.WriteStringValue(scrape.Authority);
        json.WriteEndArray();
        json.WriteStartObject("labels");
        json.WriteString("__scheme__", scrape.Scheme);
        json.WriteString("__metrics_path__", "/metrics");
        json.WriteString("service", instance.Service);
        json.WriteString("instance_id", instance.Id);
        if (instance.Version is not null)
        {
            json.WriteString("version", instance.Version);
        }

        if (instance.Zone is not null)
        {
            json.WriteString("zone", instance.Zone);
        }

        json.WriteString("__meta_mesh_address", instance.Address);
        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, value) in instance.Labels)
        {
            // Prometheus label names are [a-zA-Z_][a-zA-Z0-9_]*: '-', '.' and '/' become '_', as Kubernetes SD does.
            var label = LabelName(key);
            var name = MetaLabelPrefix + label;
            if (!IsReserved(label) && written.Add(name))
            {
                json.WriteString(name, value);
            }
        }

        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>The metrics listener the instance registered, or its own address.</summary>
    internal static Uri ScrapeAddress(InstanceRecord instance)
    {
        foreach (var (key, value) in instance.Labels)
        {
            if (string.Equals(key, MetricsAddressLabel, StringComparison.OrdinalIgnoreCase) &&
                Uri.TryCreate(value, UriKind.Absolute, out var listener))
            {
                return listener;
            }
        }

        return new Uri(instance.Address);
    }

    /// <summary>
    /// Whether a label, once the documented <c>labelmap</c> of <c>__meta_mesh_label_(.+)</c> has made it a label of its
    /// own, would set how Prometheus scrapes (names starting <c>__</c>: <c>__address__</c>, <c>__metrics_path__</c>,
    /// <c>__param_*</c>, ...) or overwrite who the series are from (the registration's labels, <c>job</c>, <c>instance</c>).
    /// A workload chooses its labels, and these are the registry's and the operator's to say: such a label is left out.
    /// Kubernetes label keys cannot start with '_', so its SD never meets the first case; registry keys can.
    /// </summary>
    internal static bool IsReserved(string label) =>
        label.StartsWith("__", StringComparison.Ordinal) || label is "service" or "version" or "zone" or "instance_id" or "job" or "instance";

    private static string LabelName(string key)
    {
        Span<char> name = stackalloc char[key.Length];
        for (var i = 0; i < key.Length; i++)
        {
            name[i] = char.IsAsciiLetterOrDigit(key[i]) ? key[i] : '_';
        }

        return new string(name);
    }
}
