using System.Text.Json.Serialization;

namespace Mesh.Registry.Store.Etcd;

[JsonSerializable(typeof(EtcdInstanceValue))]
[JsonSerializable(typeof(EtcdLeaseValue))]
[JsonSerializable(typeof(EtcdPolicyValue))]
[JsonSerializable(typeof(EtcdHeldValue))]
[JsonSerializable(typeof(EtcdJoinTokenValue))]
internal sealed partial class EtcdJsonContext : JsonSerializerContext;
