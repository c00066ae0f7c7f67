namespace Mesh.Client;

/// <summary>One endpoint of a service.</summary>
public sealed class EndpointOptions
{
    /// <summary>Absolute base address, e.g. <c>http://127.0.0.1:5001</c>.</summary>
    public Uri? Address { get; set; }

    /// <summary>Labels subsets select on, e.g. <c>version: v1</c>.</summary>
    public IDictionary<string, string> Labels { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The zone this endpoint runs in.</summary>
    public string? Zone { get; set; }
}
