using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Mesh.Registry.Tests;

/// <summary>Small helpers for the registry's JSON API.</summary>
internal static class Api
{
    /// <summary>
    /// How far past a store's current index a watch's index must be to come from "another store": the index is a
    /// count of changes with SQLite but etcd's revision with etcd, which every other user of the cluster moves too.
    /// </summary>
    public const long FutureIndexOffset = 1_000_000;

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>The index an answer is current for: its <c>X-Mesh-Index</c> header.</summary>
    public static long MeshIndex(this HttpResponseMessage response) =>
        long.Parse(response.Headers.GetValues("X-Mesh-Index").Single(), NumberStyles.None, CultureInfo.InvariantCulture);

    /// <summary>The <c>index</c> of a JSON answer (instances, policy, catalog).</summary>
    public static long Index(this JsonElement answer) => answer.GetProperty("index").GetInt64();

    /// <summary>Registers (or renews) an instance, which must succeed, and gives the index of its service's instance set after it.</summary>
    public static async Task<long> RegisterIndexAsync(this HttpClient client, string service, string id, string address, int ttl = 30,
        string? version = "v1")
    {
        using var response = await client.RegisterAsync(service, id, address, ttl, version);
        response.IsSuccessStatusCode.ShouldBeTrue(await response.Content.ReadAsStringAsync());
        return response.MeshIndex();
    }

    public static string Registration(string address, int ttl = 30, string? version = "v1", string? zone = null, string labels = "{}") =>
        $$"""{ "address": "{{address}}", "version": {{(version is null ? "null" : $"\"{version}\"")}}, "zone": {{(zone is null ? "null" : $"\"{zone}\"")}}, "labels": {{labels}}, "ttlSeconds": {{ttl}} }""";

    public static async Task<HttpResponseMessage> RegisterAsync(this HttpClient client, string service, string id, string address, int ttl = 30,
        string? version = "v1") =>
        await client.PutAsync(new Uri($"/v1/services/{service}/instances/{id}", UriKind.Relative), Json(Registration(address, ttl, version)));

    public static async Task<JsonElement> GetJsonAsync(this HttpClient client, string path, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await client.GetAsync(new Uri(path, UriKind.Relative));
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expected, body);
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.Clone();
    }

    public static async Task<JsonElement> ReadJsonAsync(this HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.Clone();
    }

    public static async Task<List<string>> InstanceIdsAsync(this HttpClient client, string service)
    {
        var answer = await client.GetJsonAsync($"/v1/services/{service}/instances");
        return [.. answer.GetProperty("instances").EnumerateArray().Select(i => i.GetProperty("id").GetString()!)];
    }

    public static async Task<string> ProblemAsync(this HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expected, body);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
        return body;
    }
}
