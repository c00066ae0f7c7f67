namespace Mesh.Registry;

/// <summary>What a call needs of its caller.</summary>
internal enum ApiAccess
{
    /// <summary>Any valid token or mesh certificate.</summary>
    Read,

    /// <summary>The admin, or the service's own join token or certificate.</summary>
    Register,

    /// <summary>The admin token.</summary>
    Admin,
}
