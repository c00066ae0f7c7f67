using System.Net.Http.Json;

namespace Mesh.Client.Http;

/// <summary>
/// Whether a plain HTTP request's body can be sent again once an attempt may have read it: no body, one in memory, or
/// one that writes the same bytes from memory each time (JSON of a value, multipart of such parts). A
/// <see cref="StreamContent"/> reads a stream that may not give its bytes twice, and a content of the app's own making
/// is not known to: such a request is sent again only after an attempt that never reached a server.
/// </summary>
internal static class RequestBody
{
    public static bool CanSendAgain(HttpContent? content)
    {
        switch (content)
        {
            case null or ByteArrayContent or ReadOnlyMemoryContent or JsonContent:
                return true;
            case MultipartContent multipart:
                foreach (var part in multipart)
                {
                    if (!CanSendAgain(part))
                    {
                        return false;
                    }
                }

                return true;
            default:
                return false;
        }
    }
}
