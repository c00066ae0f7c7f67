namespace Mesh.Registry;

/// <summary>
/// Who is calling: the admin, a workload holding one service's join token, or a workload presenting its mesh
/// certificate (<paramref name="ByCertificate"/>). <paramref name="JoinTokenId"/> names a token made through the API (its
/// uses are counted); <paramref name="BoundVersion"/> is the only version its certificates may carry: the token's when it
/// names one, and for a certificate always the version that certificate carries (null: none), so a renewal cannot
/// change what the workload joined as.
/// </summary>
internal sealed record RegistryCaller(bool IsAdmin, string? Service, string? JoinTokenId = null, string? BoundVersion = null, bool ByCertificate = false)
{
    /// <summary>Whether the caller may register, renew and deregister instances of <paramref name="service"/>.</summary>
    public bool MayRegister(string service) => IsAdmin || string.Equals(Service, service, StringComparison.Ordinal);
}
