using System.Collections.ObjectModel;

namespace Mesh.IntegrationTests.Observability;

/// <summary>
/// The collection an OpenTelemetry in-memory exporter fills, safe to read while spans still end on other threads: the
/// exporter adds through <see cref="ICollection{T}.Add"/> without a lock of its own, so adds and reads share one gate.
/// </summary>
internal sealed class ExportedItems<T> : Collection<T>
{
    private readonly Lock _gate = new();

    /// <summary>A copy of what was exported so far.</summary>
    public List<T> Snapshot()
    {
        lock (_gate)
        {
            return [.. Items];
        }
    }

    protected override void InsertItem(int index, T item)
    {
        lock (_gate)
        {
            base.InsertItem(index, item);
        }
    }

    protected override void ClearItems()
    {
        lock (_gate)
        {
            base.ClearItems();
        }
    }
}
