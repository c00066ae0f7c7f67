using System.Globalization;
using System.Text;
using Google.Protobuf;

namespace Mesh.Registry.Store.Etcd;

/// <summary>
/// Where each part of the registry's state lives under the prefix. Names are escaped, so no service or instance id
/// can reach outside its own key.
/// </summary>
/// <remarks>
/// <code>
/// meta/admin-token-sha256        the admin token's hash, written once by the first replica
/// meta/decider                   the replica that decides lease expiry (bound to its session lease)
/// meta/last-write                written by every registry transaction: its revision is the latest write's
/// instances/{service}/{id}       a registration (bound to the instance's etcd lease)
/// leases/{service}/{id}          when it was last renewed and when its lease ends (same etcd lease)
/// instances-index/{service}      touched by every change to the service's instance set: its mod revision is the index
/// policies/{service}             the current policy version
/// policy-versions/{service}/{v}  every version, v zero-padded so keys sort by version
/// held/{service}                 set while the mass-expiry guard holds the service's expired instances
/// recent-expirations/{service}   when its instances expired within the last lease window, for the guard
/// join-tokens/{id}               a join token's hash and use count
/// rollouts/{service}             the service's rollout (spec, state, decisions); its mod revision guards every write
/// </code>
/// </remarks>
internal sealed class EtcdKeys(string prefix)
{
    public const string InstancesFolder = "instances/";
    public const string LeasesFolder = "leases/";
    public const string InstancesIndexFolder = "instances-index/";
    public const string PoliciesFolder = "policies/";
    public const string PolicyVersionsFolder = "policy-versions/";
    public const string HeldFolder = "held/";
    public const string RecentExpirationsFolder = "recent-expirations/";
    public const string JoinTokensFolder = "join-tokens/";
    public const string RolloutsFolder = "rollouts/";

    public string Prefix { get; } = prefix;

    public string AdminTokenHash => Prefix + "meta/admin-token-sha256";

    public string Decider => Prefix + "meta/decider";

    public string LastWrite => Prefix + "meta/last-write";

    public string Instance(string service, string id) => Prefix + InstancesFolder + Escape(service) + "/" + Escape(id);

    public string Lease(string service, string id) => Prefix + LeasesFolder + Escape(service) + "/" + Escape(id);

    public string InstancesIndex(string service) => Prefix + InstancesIndexFolder + Escape(service);

    public string Policy(string service) => Prefix + PoliciesFolder + Escape(service);

    public string PolicyVersions(string service) => Prefix + PolicyVersionsFolder + Escape(service) + "/";

    public string PolicyVersion(string service, long version) => PolicyVersions(service) + version.ToString("D19", CultureInfo.InvariantCulture);

    public string Held(string service) => Prefix + HeldFolder + Escape(service);

    public string RecentExpirations(string service) => Prefix + RecentExpirationsFolder + Escape(service);

    public string JoinTokens => Prefix + JoinTokensFolder;

    public string JoinToken(string id) => JoinTokens + Escape(id);

    public string Rollouts => Prefix + RolloutsFolder;

    public string Rollout(string service) => Rollouts + Escape(service);

    /// <summary>The part of <paramref name="key"/> after the prefix, split into its folder and escaped-back names; null when it is not ours.</summary>
    public (string Folder, string Name, string? Id)? Parse(string key)
    {
        if (!key.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var rest = key.AsSpan(Prefix.Length);
        var slash = rest.IndexOf('/');
        if (slash < 0)
        {
            return null;
        }

        var folder = rest[..(slash + 1)].ToString();
        var names = rest[(slash + 1)..];
        var second = names.IndexOf('/');
        return second < 0
            ? (folder, Unescape(names.ToString()), null)
            : (folder, Unescape(names[..second].ToString()), Unescape(names[(second + 1)..].ToString()));
    }

    /// <summary>The end of the key range holding every key that starts with <paramref name="prefix"/> (etcd's range_end).</summary>
    public static ByteString RangeEnd(string prefix)
    {
        var bytes = Encoding.UTF8.GetBytes(prefix);
        for (var i = bytes.Length - 1; i >= 0; i--)
        {
            if (bytes[i] < 0xff)
            {
                bytes[i]++;
                return ByteString.CopyFrom(bytes, 0, i + 1);
            }
        }

        return ByteString.CopyFrom(0);
    }

    public static ByteString Bytes(string key) => ByteString.CopyFromUtf8(key);

    private static string Escape(string name) => Uri.EscapeDataString(name);

    private static string Unescape(string name) => Uri.UnescapeDataString(name);
}
