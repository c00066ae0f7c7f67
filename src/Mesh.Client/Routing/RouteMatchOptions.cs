namespace Mesh.Client;

/// <summary>Conditions a request must meet, all of them, for a route to take it.</summary>
public sealed class RouteMatchOptions
{
    /// <summary>Request headers that must be present with exactly these values.</summary>
    public IDictionary<string, string> Headers { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The path must equal this.</summary>
    public string? Path { get; set; }

    /// <summary>The path must start with this (a plain string prefix, as in Istio).</summary>
    public string? PathPrefix { get; set; }

    /// <summary>The method must be one of these; empty matches every method.</summary>
    public IList<string> Methods { get; set; } = new List<string>();
}
