namespace Mesh.Client;

/// <summary>Whether mesh traffic uses mutual TLS.</summary>
public enum MeshSecurityMode
{
    /// <summary>Accept mTLS and plaintext; originate mTLS to endpoints known to speak it.</summary>
    Permissive,

    /// <summary>mTLS only.</summary>
    Strict,

    /// <summary>No mesh TLS.</summary>
    Disabled,
}
