namespace Mesh.Client.Registry;

public sealed class ServiceSummary
{
    public string Name { get; set; } = string.Empty;

    public int Instances { get; set; }

    public long PolicyVersion { get; set; }

    /// <summary>Instances whose lease has passed but that the registry's mass-expiry guard keeps listed.</summary>
    public int HeldInstances { get; set; }
}
