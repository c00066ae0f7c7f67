using System.Text.Json;

namespace Mesh.Registry.Consul;

/// <summary>Writes the Consul API's JSON shapes (PascalCase field names, as Consul's HTTP API documents them).</summary>
internal static class ConsulJson
{
    /// <summary>An entry of <c>/v1/catalog/service/{name}</c>.</summary>
    public static void WriteCatalogEntry(Utf8JsonWriter json, ConsulInstance instance, long index)
    {
        json.WriteStartObject();
        json.WriteString("ID", string.Empty);
        json.WriteString("Node", instance.Host);
        json.WriteString("Address", instance.Host);
        json.WriteString("Datacenter", ConsulQuery.Datacenter);
        WriteEmptyObject(json, "TaggedAddresses");
        WriteEmptyObject(json, "NodeMeta");
        json.WriteString("ServiceKind", string.Empty);
        json.WriteString("ServiceID", instance.Record.Id);
        json.WriteString("ServiceName", instance.Record.Service);
        WriteTags(json, "ServiceTags", instance);
        json.WriteString("ServiceAddress", instance.Host);
        WriteWeights(json, "ServiceWeights");
        WriteMeta(json, "ServiceMeta", instance);
        json.WriteNumber("ServicePort", instance.Port);
        json.WriteBoolean("ServiceEnableTagOverride", false);
        json.WriteNumber("CreateIndex", index);
        json.WriteNumber("ModifyIndex", index);
        json.WriteEndObject();
    }

    /// <summary>An entry of <c>/v1/health/service/{name}</c>: the node, the service and its checks.</summary>
    public static void WriteHealthEntry(Utf8JsonWriter json, ConsulInstance instance, long index)
    {
        json.WriteStartObject();
        json.WriteStartObject("Node");
        json.WriteString("ID", string.Empty);
        json.WriteString("Node", instance.Host);
        json.WriteString("Address", instance.Host);
        json.WriteString("Datacenter", ConsulQuery.Datacenter);
        WriteEmptyObject(json, "TaggedAddresses");
        WriteEmptyObject(json, "Meta");
        json.WriteNumber("CreateIndex", index);
        json.WriteNumber("ModifyIndex", index);
        json.WriteEndObject();

        json.WriteStartObject("Service");
        json.WriteString("ID", instance.Record.Id);
        json.WriteString("Service", instance.Record.Service);
        WriteTags(json, "Tags", instance);
        json.WriteString("Address", instance.Host);
        WriteMeta(json, "Meta", instance);
        json.WriteNumber("Port", instance.Port);
        WriteWeights(json, "Weights");
        json.WriteBoolean("EnableTagOverride", false);
        json.WriteNumber("CreateIndex", index);
        json.WriteNumber("ModifyIndex", index);
        json.WriteEndObject();

        json.WriteStartArray("Checks");
        json.WriteStartObject();
        json.WriteString("Node", instance.Host);
        json.WriteString("CheckID", "service:" + instance.Record.Id);
        json.WriteString("Name", "Mesh registry lease");
        json.WriteString("Status", instance.Passing ? "passing" : "critical");
        json.WriteString("Notes", string.Empty);
        json.WriteString("Output", instance.Passing ? "lease renewed" : "lease passed; held by the registry's mass-expiry guard");
        json.WriteString("ServiceID", instance.Record.Id);
        json.WriteString("ServiceName", instance.Record.Service);
        WriteTags(json, "ServiceTags", instance);
        json.WriteString("Type", "ttl");
        json.WriteNumber("CreateIndex", index);
        json.WriteNumber("ModifyIndex", index);
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteTags(Utf8JsonWriter json, string name, ConsulInstance instance)
    {
        json.WriteStartArray(name);
        foreach (var tag in instance.Tags)
        {
            json.WriteStringValue(tag);
        }

        json.WriteEndArray();
    }

    private static void WriteMeta(Utf8JsonWriter json, string name, ConsulInstance instance)
    {
        json.WriteStartObject(name);
        foreach (var (key, value) in instance.Record.Labels)
        {
            json.WriteString(key, value);
        }

        json.WriteEndObject();
    }

    private static void WriteWeights(Utf8JsonWriter json, string name)
    {
        json.WriteStartObject(name);
        json.WriteNumber("Passing", 1);
        json.WriteNumber("Warning", 1);
        json.WriteEndObject();
    }

    private static void WriteEmptyObject(Utf8JsonWriter json, string name)
    {
        json.WriteStartObject(name);
        json.WriteEndObject();
    }
}
