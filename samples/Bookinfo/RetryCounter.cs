using System.Diagnostics.Metrics;

namespace Bookinfo;

/// <summary>
/// Counts the retries the mesh reports on its <c>mesh.retries</c> instrument (meter <c>Mesh.Client</c>, every host in
/// this process) for one destination service and route: what the tour knows of retries without reaching inside the
/// mesh. Counting starts when it is made and stops when it is disposed.
/// </summary>
internal sealed class RetryCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _count;

    public RetryCounter(string service, string route)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Mesh.Client" && instrument.Name == "mesh.retries")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? destination = null, matched = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "destination_service")
                {
                    destination = tag.Value as string;
                }
                else if (tag.Key == "route")
                {
                    matched = tag.Value as string;
                }
            }

            if (destination == service && matched == route)
            {
                Interlocked.Add(ref _count, value);
            }
        });
        _listener.Start();
    }

    public long Count => Interlocked.Read(ref _count);

    public void Dispose() => _listener.Dispose();
}
