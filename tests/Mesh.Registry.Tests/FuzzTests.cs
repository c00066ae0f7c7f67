using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Mesh.Testing;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Mesh.Registry.Tests;

/// <summary>
/// A thousand malformed bodies from a seeded generator to each write endpoint (and the watch of many services): truncated JSON, wrong types, huge
/// strings, deep nesting, random bytes, nulls, negative and huge numbers. No answer may be a 5xx, the registry must keep
/// serving, and what it held before must still be there.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int PerEndpoint = 1000;

    private const string PolicyTemplate = """
        {
          "Subsets": { "v1": { "version": "v1" }, "v2": { "version": "v2" } },
          "LoadBalancer": { "Policy": "PeakEwma", "HashHeader": null },
          "Routes": [
            { "Name": "testers", "Match": { "Headers": { "end-user": "jason" }, "PathPrefix": "/api", "Methods": [ "GET" ] },
              "Destinations": [ { "Subset": "v2", "Weight": 100 } ] },
            { "Name": "default",
              "Destinations": [ { "Subset": "v1", "Weight": 90 }, { "Subset": "v2", "Weight": 10 } ],
              "Timeout": "00:00:05",
              "Retry": { "Attempts": 2, "PerTryTimeout": "00:00:01", "RetryOn": [ "connect-failure", "5xx" ] },
              "Fault": { "Delay": { "Percentage": 10, "FixedDelay": "00:00:02" }, "Abort": { "Percentage": 5, "HttpStatus": 503 } },
              "Mirror": { "Subset": "v2", "Percentage": 5 } }
          ],
          "OutlierDetection": { "Consecutive5xxErrors": 5, "Interval": "00:00:10", "BaseEjectionTime": "00:00:30", "MaxEjectionPercent": 10 },
          "RetryBudget": { "RetryRatio": 0.2, "MinRetriesPerSecond": 10, "Ttl": "00:00:10" }
        }
        """;

    private static readonly string RegistrationTemplate =
        Api.Registration("http://127.0.0.1:5001", 30, "v1", "zone-a", """{ "team": "web", "tier": "gold" }""");

    private const string WatchTemplate = """{ "services": [ "reviews", "ratings", "fuzz", "details" ] }""";

    private RegistryHost _host = null!;

    public async Task InitializeAsync() => _host = await RegistryHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_thousand_malformed_bodies_to_each_write_endpoint_never_make_a_5xx()
    {
        var admin = _host.Admin;
        (await admin.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001", ttl: 3600)).EnsureSuccessStatusCode();
        (await admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json(PolicyTemplate))).EnsureSuccessStatusCode();
        var before = await StateAsync(admin);

        var endpoints = new (string Name, HttpMethod Method, Func<Random, string> Path, string Template)[]
        {
            ("register", HttpMethod.Put, r => $"/v1/services/fuzz/instances/{Id(r)}", RegistrationTemplate),
            ("deregister", HttpMethod.Delete, r => $"/v1/services/fuzz/instances/{Id(r)}", RegistrationTemplate),
            ("put policy", HttpMethod.Put, r => $"/v1/policies/{Service(r)}", PolicyTemplate),
            ("validate", HttpMethod.Post, r => $"/v1/policies/{Service(r)}/validate", PolicyTemplate),
            ("rollback", HttpMethod.Post, r => $"/v1/policies/fuzz/rollback{Query(r)}", PolicyTemplate),
            ("delete policy", HttpMethod.Delete, r => $"/v1/policies/{Service(r)}", PolicyTemplate),
            ("watch services", HttpMethod.Post, r => "/v1/watch?wait=0s", WatchTemplate),
        };

        var failures = new ConcurrentQueue<string>();
        var statuses = new ConcurrentDictionary<(string, int), int>();
        using var client = new HttpClient { BaseAddress = _host.Address, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", RegistryHost.AdminToken);
        foreach (var (name, method, path, template) in endpoints)
        {
            // One seeded generator per endpoint, so a failure is reproducible from its endpoint and number alone.
            var rng = new Random(HashCode(name));
            var cases = Enumerable.Range(0, PerEndpoint).Select(i => (i, Path: path(rng), Body: Malformed.Next(rng, template))).ToList();
            await Parallel.ForEachAsync(cases, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (c, ct) =>
            {
                using var request = new HttpRequestMessage(method, new Uri(c.Path, UriKind.Relative)) { Content = new ByteArrayContent(c.Body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                HttpResponseMessage sent;
                try
                {
                    sent = await client.SendAsync(request, ct);
                }
                catch (HttpRequestException ex) when (c.Body.Length > RegistryDefaults.MaxRequestBodyBytes || ex.InnerException is IOException)
                {
                    // Over the limit the registry answers 413 from the Content-Length alone and closes the connection
                    // without reading the body; a client still uploading can meet the close (a broken pipe) before the
                    // answer. Below it the same happens, rarely, to a request refused before its body was read (a
                    // malformed instance id, say) when Kestrel gives up draining the rest. Refused either way, never
                    // a 5xx; 0 stands for "closed while uploading" in the summary, and the checks after the run show
                    // the registry still serving and its state intact.
                    statuses.AddOrUpdate((name, 0), 1, (_, n) => n + 1);
                    return;
                }

                using var response = sent;
                statuses.AddOrUpdate((name, (int)response.StatusCode), 1, (_, n) => n + 1);
                if ((int)response.StatusCode >= 500)
                {
                    var preview = Encoding.UTF8.GetString(c.Body.AsSpan(0, Math.Min(200, c.Body.Length)));
                    failures.Enqueue($"{name} #{c.i} {c.Path} -> {(int)response.StatusCode}: {preview}");
                }
            });
        }

        failures.ShouldBeEmpty(string.Join('\n', failures.Take(20)));
        var summary = string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key.Item1} {s.Key.Item2}: {s.Value}"));
        output.WriteLine(summary);
        statuses.Keys.Where(k => k.Item1 == "put policy").Select(k => k.Item2).ShouldContain(400, summary);
        statuses.Keys.Where(k => k.Item1 == "register").Select(k => k.Item2).ShouldContain(400, summary);
        statuses.Keys.Where(k => k.Item1 == "watch services").Select(k => k.Item2).ShouldContain(400, summary);

        // Still serving, and the store still holds what it held.
        using (var health = await client.GetAsync(new Uri("/healthz", UriKind.Relative)))
        {
            health.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        (await StateAsync(admin)).ShouldBe(before);
        (await admin.RegisterAsync("reviews", "r2", "http://127.0.0.1:5002")).StatusCode.ShouldBe(HttpStatusCode.Created);

        // The policy reader never threw: every refusal came from validation, not from a caught crash.
        _host.Logs.GetSnapshot().Where(e => e.Level >= LogLevel.Warning && e.Message.Contains("policy reader failed", StringComparison.Ordinal))
            .Select(e => e.Message).ShouldBeEmpty();

        await _host.RestartAsync();
        (await StateAsync(_host.Admin)).ShouldNotBeNullOrEmpty();
        (await _host.Admin.InstanceIdsAsync("reviews")).ShouldBe(["r1", "r2"]);
    }

    private static async Task<string> StateAsync(HttpClient admin) => string.Join('\n',
        (await admin.GetJsonAsync("/v1/services/reviews/instances")).GetRawText(),
        (await admin.GetJsonAsync("/v1/policies/reviews")).GetRawText(),
        (await admin.GetJsonAsync("/v1/policies/reviews/history")).GetRawText());

    private static int HashCode(string s) => s.Aggregate(17, (h, c) => unchecked((h * 31) + c));

    private static string Id(Random r) => r.Next(4) == 0 ? Uri.EscapeDataString(Malformed.RandomText(r, r.Next(1, 80))) : $"i{r.Next(20)}";

    private static string Service(Random r) => r.Next(4) == 0 ? Uri.EscapeDataString("z" + Malformed.RandomText(r, r.Next(0, 80))) : "fuzz";

    private static string Query(Random r) => r.Next(5) switch
    {
        0 => string.Empty,
        1 => $"?version={r.NextInt64(long.MinValue, long.MaxValue)}",
        2 => $"?version={Uri.EscapeDataString(Malformed.RandomText(r, r.Next(0, 40)))}",
        3 => "?version=1&version=2",
        _ => $"?version={r.Next(-3, 5)}",
    };
}

/// <summary>A seeded generator of malformed request bodies, each made from a valid template.</summary>
internal static class Malformed
{
    public static byte[] Next(Random r, string template) => r.Next(10) switch
    {
        0 => Encoding.UTF8.GetBytes(template[..r.Next(template.Length)]), // truncated
        1 => RandomBytes(r),
        2 => Encoding.UTF8.GetBytes(DeepNesting(r)),
        3 => Encoding.UTF8.GetBytes(HugeString(r, template)),
        4 => Encoding.UTF8.GetBytes(Replace(r, template, _ => r.Next(3) == 0 ? JsonValue.Create("null") : null)),
        5 => Encoding.UTF8.GetBytes(Replace(r, template, _ => RandomNode(r, 2))),
        6 => Encoding.UTF8.GetBytes(Replace(r, template, _ => JsonNode.Parse(Numbers[r.Next(Numbers.Length)]))),
        7 => FlipBytes(r, Encoding.UTF8.GetBytes(template)),
        8 => Encoding.UTF8.GetBytes(RandomNode(r, 4)?.ToJsonString() ?? "null"),
        _ => Encoding.UTF8.GetBytes(Replace(r, template, _ => JsonValue.Create(RandomText(r, r.Next(0, 300))))),
    };

    private static readonly string[] Numbers =
    [
        "-1", "0", "-0", "1.5", "-2147483649", "2147483648", "99999999999999999999999999999", "1e309", "-1e309", "1e-400",
        "9223372036854775808", "-9223372036854775809", "3.4028235e39", "100.0000000000000000001", "-100", "101", "1E2",
    ];

    private const string Punctuation = "\"\\/:{}[],%.-_ ";

    public static string RandomText(Random r, int length)
    {
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            chars[i] = r.Next(6) switch
            {
                0 => (char)r.Next(0, 32), // control characters
                1 => (char)r.Next(0xD800, 0xE000), // lone surrogates
                2 => Punctuation[r.Next(Punctuation.Length)],
                3 => (char)r.Next(0x80, 0x3000),
                _ => (char)r.Next(32, 127),
            };
        }

        return new string(chars);
    }

    private static byte[] RandomBytes(Random r)
    {
        var bytes = new byte[r.Next(0, 4096)];
        r.NextBytes(bytes);
        return bytes;
    }

    private static string DeepNesting(Random r)
    {
        var depth = r.Next(10, 20_000);
        var closed = r.Next(3) != 0;
        return r.Next(3) switch
        {
            0 => new string('[', depth) + (closed ? new string(']', depth) : string.Empty),
            1 => string.Concat(Enumerable.Repeat("{\"Routes\":", depth)) + "1" + (closed ? new string('}', depth) : string.Empty),
            _ => "{\"labels\":" + string.Concat(Enumerable.Repeat("{\"a\":[", depth)) + (closed ? string.Concat(Enumerable.Repeat("]}", depth)) + "}" : string.Empty),
        };
    }

    private static string HugeString(Random r, string template)
    {
        var size = r.Next(3) switch
        {
            0 => r.Next(1_000, 60_000),
            1 => r.Next(60_000, 300_000),
            _ => r.Next(300_000, 1_200_000),
        };
        var huge = new string((char)r.Next('a', 'z' + 1), size);
        return Replace(r, template, _ => JsonValue.Create(huge), keys: r.Next(2) == 0 ? huge[..Math.Min(huge.Length, 100_000)] : null);
    }

    private static byte[] FlipBytes(Random r, byte[] bytes)
    {
        var flips = r.Next(1, 10);
        for (var i = 0; i < flips; i++)
        {
            bytes[r.Next(bytes.Length)] = (byte)r.Next(256);
        }

        return bytes;
    }

    /// <summary>Replaces one random value of the template (an object member or array item) by what <paramref name="make"/> gives.</summary>
    private static string Replace(Random r, string template, Func<JsonNode?, JsonNode?> make, string? keys = null)
    {
        var root = JsonNode.Parse(template)!;
        var slots = new List<(JsonNode Parent, object Key)>();
        Collect(root, slots);
        var (parent, key) = slots[r.Next(slots.Count)];
        if (parent is JsonObject obj)
        {
            var name = (string)key;
            var value = make(obj[name]);
            if (keys is not null)
            {
                obj.Remove(name);
                obj[keys] = value;
            }
            else
            {
                obj[name] = value;
            }
        }
        else if (parent is JsonArray array)
        {
            array[(int)key] = make(array[(int)key]);
        }

        return r.Next(8) == 0 ? "null" : root.ToJsonString();
    }

    private static void Collect(JsonNode node, List<(JsonNode, object)> slots)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (name, child) in obj.ToList())
                {
                    slots.Add((obj, name));
                    if (child is not null)
                    {
                        Collect(child, slots);
                    }
                }

                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    slots.Add((array, i));
                    if (array[i] is { } child)
                    {
                        Collect(child, slots);
                    }
                }

                break;
        }
    }

    private static JsonNode? RandomNode(Random r, int depth) => (depth <= 0 ? r.Next(5) : r.Next(7)) switch
    {
        0 => null,
        1 => JsonValue.Create(r.Next(2) == 0),
        2 => JsonNode.Parse(Numbers[r.Next(Numbers.Length)]),
        3 => JsonValue.Create(RandomText(r, r.Next(0, 40))),
        4 => JsonValue.Create(r.NextDouble() * 1e6 - 5e5),
        5 => new JsonArray([.. Enumerable.Range(0, r.Next(0, 5)).Select(_ => RandomNode(r, depth - 1))]),
        _ => new JsonObject(Enumerable.Range(0, r.Next(0, 5)).Select(i => KeyValuePair.Create(
            r.Next(3) == 0 ? RandomText(r, r.Next(0, 12)) + i : new[] { "address", "ttlSeconds", "labels", "Routes", "Subsets", "Weight" }[r.Next(6)] + i,
            RandomNode(r, depth - 1)))),
    };
}
