using System.Text;

namespace Mesh.Registry.Ca;

/// <summary>
/// <c>GET /v1/ca/bundle.pem</c>: the trusted roots as PEM, without authentication. Roots are public, and TLS cannot carry
/// them (a server never sends the root of its chain): a client that pins the registry by fingerprint fetches them here,
/// keeps the one whose SHA-256 matches its pin, and checks that the server it just talked to chains to it, all before
/// it sends a token. Operators can check the printed fingerprint the same way (<c>openssl x509 -fingerprint -sha256</c>).
/// </summary>
internal static class CaBundleEndpoint
{
    public const string Path = "/ca/bundle.pem";

    public static void Map(RouteGroupBuilder v1) => v1.MapGet(Path, Get);

    internal static IResult Get(CertificateAuthority ca)
    {
        var pem = new StringBuilder();
        foreach (var root in ca.ListRoots().Roots)
        {
            pem.Append(root.Certificate);
            if (!root.Certificate.EndsWith('\n'))
            {
                pem.Append('\n');
            }
        }

        return Results.Text(pem.ToString(), "application/x-pem-file", Encoding.ASCII);
    }
}
