namespace Mesh.Client.Registry;

/// <summary>One service's full current state in a <see cref="ServicesWatchResponse"/>: its instances and its policy, each with its own index.</summary>
public sealed class ServiceState
{
    public string Name { get; set; } = string.Empty;

    public InstancesResponse Instances { get; set; } = new();

    public PolicyResponse Policy { get; set; } = new();
}
