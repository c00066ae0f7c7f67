namespace Mesh.Client;

/// <summary>A weighted destination of a route.</summary>
public sealed class RouteDestinationOptions
{
    /// <summary>The subset to send to; unset means every endpoint of the service.</summary>
    public string? Subset { get; set; }

    /// <summary>The share of the route's traffic, 0 to 100; the weights of a route sum to 100.</summary>
    public int Weight { get; set; } = 100;
}
