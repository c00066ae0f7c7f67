namespace Mesh.Registry.Ca;

/// <summary>The contents of <c>ca.json</c>.</summary>
internal sealed class CaState
{
    public long Index { get; set; }

    public string Active { get; set; } = string.Empty;

    public List<string> Roots { get; set; } = [];
}
