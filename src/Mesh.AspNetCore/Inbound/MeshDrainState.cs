namespace Mesh.AspNetCore.Inbound;

/// <summary>
/// Whether this app is draining: deregistered on its way to a graceful stop, still serving until the drain delay has
/// passed. <c>/healthz</c> reports it, and HTTP/1.x responses then close their connection.
/// </summary>
internal sealed class MeshDrainState
{
    private volatile bool _draining;

    public bool Draining
    {
        get => _draining;
        set => _draining = value;
    }
}
