namespace Mesh.Client;

/// <summary>This app's identity: the name other services call it by, and the labels its endpoints carry.</summary>
public sealed class ServiceIdentityOptions
{
    /// <summary>The logical service name, e.g. <c>productpage</c>.</summary>
    public string? Name { get; set; }

    /// <summary>The deployed version, e.g. <c>v1</c>; reported as <c>source_version</c> and as the <c>version</c> label.</summary>
    public string? Version { get; set; }

    /// <summary>The zone or locality this instance runs in.</summary>
    public string? Zone { get; set; }

    /// <summary>Extra labels of this instance.</summary>
    public IDictionary<string, string> Labels { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
}
