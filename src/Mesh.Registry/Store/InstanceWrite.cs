using Mesh.Client.Registry;

namespace Mesh.Registry.Store;

/// <summary>What a registration did: the instance as stored, whether it is new, and the index of its instance set.</summary>
internal sealed record InstanceWrite(InstanceRecord Record, bool Created, long Index);
