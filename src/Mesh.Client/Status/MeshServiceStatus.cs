namespace Mesh.Client;

/// <summary>One service as <see cref="IMeshStatus"/> sees it.</summary>
/// <param name="name">The service's name.</param>
/// <param name="endpoints">How many endpoints the mesh may send its calls to.</param>
/// <param name="routes">The names of its routes, in match order.</param>
public sealed class MeshServiceStatus(string name, int endpoints, IReadOnlyList<string> routes)
{
    /// <summary>The service's name.</summary>
    public string Name { get; } = name;

    /// <summary>How many endpoints the mesh may send its calls to, from configuration and the registry together.</summary>
    public int Endpoints { get; } = endpoints;

    /// <summary>The names of its routes, in match order (a route without a configured name has a generated one).</summary>
    public IReadOnlyList<string> Routes { get; } = routes;
}
