using System.Text.Json.Serialization;

namespace Mesh.Registry.Store.Etcd;

[JsonSerializable(typeof(EtcdInstanceValue))]
[JsonSerializable(typeof(EtcdLeaseValue))]
[JsonSerializable(typeof(EtcdPolicyValue))]
[JsonSerializable(typeof(EtcdHeldValue))]
[JsonSerializable(typeof(EtcdJoinTokenValue))]
[JsonSerializable(typeof(List<DateTimeOffset>))]
internal sealed partial class EtcdJsonContext : JsonSerializerContext;
