using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Mesh.Client.Telemetry;

namespace Mesh.Client.Tests.Http;

/// <summary>
/// The call span's <c>url.full</c> goes to the trace backend, which is no place for the tokens and signatures query
/// strings carry, nor for credentials in the URL: it is written as .NET's own HTTP client span writes it, without user
/// info and with the query's values hidden (<c>?*</c>).
/// </summary>
public sealed class CallSpanUrlTests
{
    [Theory]
    [InlineData("http://{0}/items?token=s3cr3t&id=7", "http://{0}/items?*")]
    [InlineData("http://user:pa55@{0}/items/7", "http://{0}/items/7")]
    [InlineData("http://{0}:8080/items/7", "http://{0}:8080/items/7")]
    [InlineData("http://{0}/items/7", "http://{0}/items/7")]
    public async Task The_call_span_keeps_no_query_values_or_credentials(string url, string expected)
    {
        var service = "spanurl" + Guid.NewGuid().ToString("N")[..8];
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == MeshTelemetry.ActivitySourceName,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var backend = new ScriptedBackend(_ => ScriptedBackend.Answer(200));
        using var mesh = MeshUnderTest.Create(backend, service, ["v1"], []);

        using var response = await mesh.GetAsync(string.Format(CultureInfo.InvariantCulture, url, service));

        backend.Sent.ShouldHaveSingleItem();
        var call = stopped.Where(a => a.OperationName == service).ShouldHaveSingleItem();
        call.GetTagItem("url.full").ShouldBe(string.Format(CultureInfo.InvariantCulture, expected, service));
    }
}
