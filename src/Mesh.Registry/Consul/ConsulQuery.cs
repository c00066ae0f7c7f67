using Mesh.Registry.Api;
using Mesh.Registry.Watches;

namespace Mesh.Registry.Consul;

/// <summary>
/// A Consul read's query: a blocking query's <c>index</c> and <c>wait</c> on the registry's watch index (index 0, as
/// Consul has it, answers at once), <c>dc</c> (only this registry's), and the <c>tag</c> filters of the health and
/// catalog reads.
/// </summary>
internal sealed record ConsulQuery(long? Index, TimeSpan Wait, IReadOnlyList<string> Tags, bool Passing)
{
    /// <summary>The one datacenter the registry answers for, Consul's default name.</summary>
    public const string Datacenter = "dc1";

    public static bool TryRead(HttpRequest request, RegistryOptions options, out ConsulQuery query, out IResult problem)
    {
        query = null!;
        if (!WatchQuery.TryRead(request, options, out var index, out var wait, out problem))
        {
            return false;
        }

        var errors = new ValidationErrors();
        if (ApiRequest.Single(request, "dc", errors) is { } dc && !string.Equals(dc, Datacenter, StringComparison.OrdinalIgnoreCase))
        {
            problem = Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such datacenter",
                detail: $"This registry is datacenter '{Datacenter}', not '{ApiRequest.Truncate(dc)}'.");
            return false;
        }

        if (errors.Any)
        {
            problem = errors.Problem("Invalid query");
            return false;
        }

        var tags = new List<string>();
        foreach (var tag in request.Query["tag"])
        {
            if (!string.IsNullOrEmpty(tag))
            {
                tags.Add(tag);
            }
        }

        // Consul's flag: present (with no value, or "true") means only passing instances.
        var passing = request.Query.TryGetValue("passing", out var flag) &&
            (flag.Count == 0 || string.IsNullOrEmpty(flag[0]) || !string.Equals(flag[0], "false", StringComparison.OrdinalIgnoreCase));
        query = new ConsulQuery(index is 0 ? null : index, wait, tags, passing);
        return true;
    }
}
