using System.Diagnostics.CodeAnalysis;
using Mesh.Client.Registry;

namespace Mesh.Registry.Store;

/// <summary>
/// What a registration did: the instance as stored, whether it is new, and the index of its instance set; or, with
/// <see cref="Record"/> null, that it was refused because it would have made the service more than
/// <see cref="RegistryOptions.MaxInstancesPerService"/> instances (nothing was written; see <see cref="TooMany"/>).
/// </summary>
internal sealed record InstanceWrite(InstanceRecord? Record, bool Created, long Index)
{
    /// <summary>The refusal of a new instance id: the service already has <see cref="RegistryOptions.MaxInstancesPerService"/> instances.</summary>
    public static InstanceWrite TooMany(long index) => new(null, false, index);

    /// <summary>Whether the registration was refused (<see cref="TooMany"/>); when not, <see cref="Record"/> is set.</summary>
    [MemberNotNullWhen(false, nameof(Record))]
    public bool Refused => Record is null;
}
