namespace Mesh.Registry.Store.Sqlite;

/// <summary>What <see cref="SqliteRegistryDatabase.Load"/> finds in the file.</summary>
internal sealed record StoredState(
    long Index,
    Dictionary<string, (long InstancesIndex, long PolicyIndex)> Services,
    List<InstanceEntry> Instances,
    Dictionary<string, StoredPolicyVersion> CurrentPolicies);
