namespace Mesh.Client.Registry;

/// <summary>A handler of a transport made for it alone (see <see cref="MeshRegistryHttp"/>): disposing one releases the other.</summary>
internal sealed class OwnedRegistryHandler(RegistryTransport transport) : DelegatingHandler(transport.CreateHandler())
{
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            transport.Dispose();
        }
    }
}
