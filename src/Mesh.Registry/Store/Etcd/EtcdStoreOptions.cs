namespace Mesh.Registry.Store.Etcd;

/// <summary>The etcd cluster the registry keeps its state in (<c>MeshRegistry:Etcd</c>), read when <c>MeshRegistry:Store</c> is <c>Etcd</c>.</summary>
internal sealed class EtcdStoreOptions
{
    /// <summary>The members' client URLs (<c>http://host:2379</c>, or <c>https://</c> for a cluster with TLS); calls go to whichever answers.</summary>
    public List<string> Endpoints { get; set; } = [];

    /// <summary>The key prefix under which the registry keeps everything; several meshes can share a cluster under different prefixes.</summary>
    public string Prefix { get; set; } = "/meshlib/";

    /// <summary>The etcd user, when the cluster has authentication enabled (with <see cref="Password"/>).</summary>
    public string? Username { get; set; }

    public string? Password { get; set; }

    /// <summary>A PEM file of the CA that signed the members' certificates; unset: the system's trust.</summary>
    public string? TrustedCaFile { get; set; }

    /// <summary>A PEM certificate (with <see cref="ClientKeyFile"/>) the registry presents to a cluster that requires client certificates.</summary>
    public string? ClientCertificateFile { get; set; }

    public string? ClientKeyFile { get; set; }

    /// <summary>How long one call to etcd may take before the request that needed it answers 503.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
