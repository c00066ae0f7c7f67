using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Mesh.Client.Startup;

/// <summary>
/// Wraps the host's lifetime so that the <c>Mesh</c> configuration is checked first thing in the host's start, before
/// any hosted service is made. Invalid configuration is marked as such (see <see cref="MeshStartupRejection"/>) and
/// thrown, as <c>ValidateOnStart</c> would throw it: an app that catches it decides itself, and one that does not ends
/// with the errors listed and exit code 1 instead of a stack trace.
/// </summary>
internal sealed class MeshStartupCheck(IHostLifetime inner, IOptions<MeshOptions> options, MeshStartupRejection rejection) : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken)
    {
        try
        {
            _ = options.Value;
        }
        catch (OptionsValidationException ex) when (ex.OptionsType == typeof(MeshOptions))
        {
            rejection.Reject(ex);
            throw;
        }

        return inner.WaitForStartAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => inner.StopAsync(cancellationToken);
}
