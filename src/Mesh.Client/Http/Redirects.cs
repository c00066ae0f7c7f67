using System.Net;
using Mesh.Client.Internal;

namespace Mesh.Client.Http;

/// <summary>
/// Follows redirects above the transport, with the rules of .NET's own <see cref="HttpClientHandler"/>, so that every
/// new request goes through the mesh handler again: to a mesh service it is routed, to any other host it passes
/// through. 301 and 302 turn a POST into a GET without body, 303 turns anything but HEAD into one; otherwise the method
/// and body are kept, and a body that cannot be sent again (see <see cref="RequestBody"/>) ends the following: the
/// caller gets the redirect. A relative <c>Location</c> is resolved against the caller's URI (a mesh service's name,
/// not the endpoint's address); https is never left for http; Authorization and the mesh's deadline header are not
/// sent on.
/// </summary>
/// <remarks>
/// As with <see cref="HttpClientHandler"/>, the caller's request is the one sent on: afterwards its
/// <see cref="HttpRequestMessage.RequestUri"/> (and method and body, when a redirect changed them) are those of the
/// last request, and the response's <see cref="HttpResponseMessage.RequestMessage"/> is it. Every response before the
/// last is disposed.
/// </remarks>
internal static class Redirects
{
    /// <summary>Whether the status may be a redirect: the one check every response pays.</summary>
    public static bool MayRedirect(int statusCode) => (uint)(statusCode - 300) <= 8;

    /// <summary>
    /// Follows <paramref name="response"/>'s redirects, at most <paramref name="maxRedirects"/>, each sent by
    /// <paramref name="handler"/> without following; returns the first response that is not followed.
    /// </summary>
    public static async Task<HttpResponseMessage> FollowAsync(MeshHandler handler, HttpRequestMessage request, HttpResponseMessage response,
        int maxRedirects, bool synchronous, CancellationToken cancellationToken)
    {
        for (var redirects = 0; ; redirects++)
        {
            var next = Next(request, response);
            if (next is null || redirects >= maxRedirects)
            {
                return response;
            }

            if (ForcesGet(response.StatusCode, request.Method))
            {
                request.Method = HttpMethod.Get;
                request.Content = null; // the caller's to dispose, as it was before
                if (request.Headers.TransferEncodingChunked == true)
                {
                    request.Headers.TransferEncodingChunked = false;
                }
            }
            else if (!RequestBody.CanSendAgain(request.Content))
            {
                // The body may have been read by the request that was redirected.
                return response;
            }

            response.Dispose();
            request.RequestUri = next;
            request.Headers.Authorization = null;
            // The deadline a mesh hop wrote is its own; the next mesh hop writes its own again, and a host outside the
            // mesh would take it for its caller's.
            request.Headers.Remove(MeshHeaders.Timeout);
            response = await handler.SendOnceAsync(request, synchronous, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Where <paramref name="response"/> redirects <paramref name="request"/> to, or null if it is not followed.</summary>
    private static Uri? Next(HttpRequestMessage request, HttpResponseMessage response)
    {
        switch (response.StatusCode)
        {
            case HttpStatusCode.MultipleChoices:
            case HttpStatusCode.MovedPermanently:
            case HttpStatusCode.Found:
            case HttpStatusCode.SeeOther:
            case HttpStatusCode.TemporaryRedirect:
            case HttpStatusCode.PermanentRedirect:
                break;
            default:
                return null;
        }

        var location = response.Headers.Location;
        var current = request.RequestUri;
        if (location is null || current is null || !current.IsAbsoluteUri)
        {
            return null;
        }

        if (!location.IsAbsoluteUri)
        {
            location = new Uri(current, location);
        }

        if (location.Scheme != Uri.UriSchemeHttp && location.Scheme != Uri.UriSchemeHttps)
        {
            return null;
        }

        if (current.Scheme == Uri.UriSchemeHttps && location.Scheme == Uri.UriSchemeHttp)
        {
            return null; // no downgrade from TLS to plaintext
        }

        if (location.Fragment.Length == 0 && current.Fragment.Length > 0)
        {
            // A Location without a fragment keeps the request's (RFC 9110, 10.2.2).
            location = new UriBuilder(location) { Fragment = current.Fragment }.Uri;
        }

        return location;
    }

    private static bool ForcesGet(HttpStatusCode status, HttpMethod method) => status switch
    {
        HttpStatusCode.MultipleChoices or HttpStatusCode.MovedPermanently or HttpStatusCode.Found => method == HttpMethod.Post,
        HttpStatusCode.SeeOther => method != HttpMethod.Head,
        _ => false,
    };
}
