using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Bookinfo;

/// <summary>
/// A rollout as the tour follows it: started with <c>PUT /v1/rollouts/{service}</c>, read back with <c>GET</c> until it
/// has ended and its last weights are written into the policy, each new decision printed as the registry makes it.
/// </summary>
internal sealed class RolloutRun(HttpClient registry, TextWriter output)
{
    // A guard against a rollout that never ends, not a bound on how long one takes.
    private static readonly TimeSpan Hang = TimeSpan.FromMinutes(3);

    /// <summary>The rollout's last answer: its state, step, weight and decisions.</summary>
    public JsonElement Status { get; private set; }

    public string State => Text(Status, "State");

    public IEnumerable<JsonElement> Decisions =>
        Property(Status, "Decisions") is { ValueKind: JsonValueKind.Array } decisions ? decisions.EnumerateArray() : [];

    public int Count(string verdict) => Decisions.Count(d => Text(d, "Verdict") == verdict);

    public async Task RunAsync(string service, string spec, CancellationToken cancellationToken)
    {
        var uri = new Uri($"/v1/rollouts/{service}", UriKind.Relative);
        using (var put = await registry.PutAsync(uri, new StringContent(spec, Encoding.UTF8, "application/json"), cancellationToken))
        {
            var body = await put.Content.ReadAsStringAsync(cancellationToken);
            if (!put.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"Could not start the rollout of {service}: {(int)put.StatusCode} {body}");
            }

            Status = Parse(body);
        }

        output.WriteLine($"   PUT /v1/rollouts/{service} -> {State} at step {Number(Status, "Step")}, {Number(Status, "Weight")}% to the canary");
        using var hang = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        hang.CancelAfter(Hang);
        var printed = 0;
        while (true)
        {
            var decisions = Decisions.ToList();
            for (; printed < decisions.Count; printed++)
            {
                output.WriteLine("   " + Describe(decisions[printed]));
            }

            // Ended, and the route's final weights stored as a policy version: callers are being told.
            if (State is "Succeeded" or "RolledBack" or "Aborted" && Property(Status, "PolicyVersion") is { ValueKind: JsonValueKind.Number })
            {
                return;
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), hang.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"The rollout of {service} had not ended after {Hang.TotalMinutes} minutes: {Status}");
            }

            using var get = await registry.GetAsync(uri, cancellationToken);
            var text = await get.Content.ReadAsStringAsync(cancellationToken);
            if (!get.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"Could not read the rollout of {service}: {(int)get.StatusCode} {text}");
            }

            Status = Parse(text);
        }
    }

    /// <summary>One decision as a line: step and weight, verdict, why, and the numbers it was judged on.</summary>
    public static string Describe(JsonElement decision)
    {
        var line = new StringBuilder().Append(CultureInfo.InvariantCulture,
            $"step {Number(decision, "Step")} ({Number(decision, "Weight"),3}% canary) {Text(decision, "Verdict"),-8}");
        foreach (var side in new[] { "Canary", "Stable" })
        {
            if (Property(decision, side) is { ValueKind: JsonValueKind.Object } traffic)
            {
                var success = Property(traffic, "SuccessRate") is { ValueKind: JsonValueKind.Number } s ? $"{s.GetDouble():0.0}%" : "-";
                var p99 = Property(traffic, "P99Ms") is { ValueKind: JsonValueKind.Number } p ? $"{p.GetDouble():0.0} ms" : "-";
                line.Append(CultureInfo.InvariantCulture, $"  {side.ToLowerInvariant()} {Number(traffic, "Requests")} req {success} p99 {p99}");
            }
        }

        return line.Append(CultureInfo.InvariantCulture, $"  {Text(decision, "Reason")}").ToString();
    }

    public static string Text(JsonElement element, string name) =>
        Property(element, name) is { ValueKind: JsonValueKind.String } value ? value.GetString()! : string.Empty;

    private static long Number(JsonElement element, string name) =>
        Property(element, name) is { ValueKind: JsonValueKind.Number } value ? value.GetInt64() : 0;

    /// <summary>A field by its name as the API documents it or in camel case, whichever the answer spells.</summary>
    private static JsonElement? Property(JsonElement element, string name) =>
        element.ValueKind != JsonValueKind.Object ? null
        : element.TryGetProperty(name, out var value) ? value
        : element.TryGetProperty(char.ToLowerInvariant(name[0]) + name[1..], out value) ? value
        : null;

    private static JsonElement Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }
}
