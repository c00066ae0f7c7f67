using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Client.Startup;

/// <summary>
/// Drops the host's error log of a start the mesh refused: it is the same exception with a stack trace, and the errors
/// are printed as a list instead (see <see cref="MeshStartupRejection"/>). The rule keeps the host's category at
/// Information and above, as the default is, and changes nothing while the mesh has refused nothing.
/// </summary>
internal sealed class MeshStartupLogFilter(MeshStartupRejection rejection) : IConfigureOptions<LoggerFilterOptions>
{
    /// <summary>The category of <c>Microsoft.Extensions.Hosting.Internal.Host</c>, which logs "Hosting failed to start".</summary>
    internal const string HostCategory = "Microsoft.Extensions.Hosting.Internal.Host";

    public void Configure(LoggerFilterOptions options) =>
        options.Rules.Add(new LoggerFilterRule(providerName: null, HostCategory, LogLevel.Information,
            (_, _, level) => level < LogLevel.Error || !rejection.IsRejected));
}
