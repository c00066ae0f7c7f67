using System.Net;
using Mesh.Client.Grpc;
using Mesh.Client.Internal;

namespace Mesh.Client.Http;

/// <summary>
/// The answers the mesh gives itself, as Envoy does, when it does not send a call: a status the caller can handle
/// like any other, with the reason in <c>x-mesh-fault</c> and a short text body (for gRPC a trailers-only
/// <c>UNAVAILABLE</c> with the reason in <c>grpc-message</c>), so nobody hunts the backend for an answer it never gave.
/// </summary>
internal static class MeshAnswers
{
    public const string NoHealthyUpstream = "no-healthy-upstream";
    public const string Overflow = "overflow";

    /// <summary>503 (gRPC <c>UNAVAILABLE</c>) with <c>x-mesh-fault: <paramref name="fault"/></c>, saying <paramref name="reason"/>.</summary>
    public static HttpResponseMessage Unavailable(HttpRequestMessage request, bool grpc, string fault, string reason)
    {
        if (grpc)
        {
            return GrpcResponses.TrailersOnly(request, GrpcResponses.Unavailable, reason, fault);
        }

        var response = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable)
        {
            RequestMessage = request,
            Version = request.Version,
            Content = new StringContent(reason),
        };
        response.Headers.TryAddWithoutValidation(MeshHeaders.Fault, fault);
        return response;
    }
}
