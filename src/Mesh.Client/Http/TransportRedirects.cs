using System.Runtime.CompilerServices;

namespace Mesh.Client.Http;

/// <summary>
/// Takes redirects over from the transport below a mesh handler. A transport that follows a redirect itself sends the
/// new request straight to the host in its <c>Location</c>: a mesh service's name goes to DNS, past routes, retries,
/// balancing and mesh TLS. So the mesh turns the transport's own following off and follows as the transport would
/// have (see <see cref="Redirects"/>), each new request going through the mesh handler again, as an app behind a
/// sidecar follows redirects through the sidecar.
/// </summary>
internal static class TransportRedirects
{
    /// <summary>
    /// What each transport taken over allowed before: a primary handler the app shares between clients is seen again
    /// by every client built on it, with its own following already off.
    /// </summary>
    private static readonly ConditionalWeakTable<HttpMessageHandler, StrongBox<int>> TakenOver = new();

    /// <summary>
    /// Turns the following of redirects off in the <see cref="SocketsHttpHandler"/> or <see cref="HttpClientHandler"/>
    /// at the end of <paramref name="transport"/>'s chain, and returns how many redirects the mesh follows in its stead:
    /// its <c>MaxAutomaticRedirections</c>, or 0 when it did not follow any (the app's choice, kept). A transport of
    /// another kind, or one that has sent already (its settings are fixed then), is left as it is: 0.
    /// </summary>
    public static int TakeOver(HttpMessageHandler transport)
    {
        var handler = transport;
        while (true)
        {
            switch (handler)
            {
                case OpaqueTransport opaque:
                    handler = opaque.Transport;
                    continue;
                case DelegatingHandler { InnerHandler: { } inner }:
                    handler = inner;
                    continue;
                case SocketsHttpHandler or HttpClientHandler:
                    lock (TakenOver)
                    {
                        if (!TakenOver.TryGetValue(handler, out var taken))
                        {
                            taken = new StrongBox<int>(TurnOff(handler));
                            TakenOver.Add(handler, taken);
                        }

                        return taken.Value;
                    }

                default:
                    return 0;
            }
        }
    }

    private static int TurnOff(HttpMessageHandler handler)
    {
        try
        {
            switch (handler)
            {
                case SocketsHttpHandler { AllowAutoRedirect: true } sockets:
                    var max = sockets.MaxAutomaticRedirections;
                    sockets.AllowAutoRedirect = false;
                    return max;
                case HttpClientHandler { AllowAutoRedirect: true } client:
                    var clientMax = client.MaxAutomaticRedirections;
                    client.AllowAutoRedirect = false;
                    return clientMax;
                default:
                    return 0;
            }
        }
        catch (InvalidOperationException)
        {
            // It has sent already: it keeps following redirects itself, and the mesh does not follow them twice.
            return 0;
        }
    }
}
