using Mesh.Client;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Mesh.AspNetCore.Inbound;

/// <summary>
/// Raises <see cref="HostOptions.ShutdownTimeout"/> to at least the drain the registration needs: deregistration (at
/// most <see cref="MeshRegistration.DeregisterTimeout"/>), the drain delay, then <see cref="RequestGrace"/> for the
/// requests still in flight when Kestrel stops. The shutdown timeout bounds the whole stop, the drain included, and a
/// shorter one would cut the drain. A longer configured timeout is kept.
/// </summary>
internal sealed class MeshShutdownTimeout(IOptions<MeshOptions> mesh) : IPostConfigureOptions<HostOptions>
{
    internal static readonly TimeSpan RequestGrace = TimeSpan.FromSeconds(5);

    public void PostConfigure(string? name, HostOptions options)
    {
        MeshOptions value;
        try
        {
            value = mesh.Value;
        }
        catch (OptionsValidationException)
        {
            // Invalid mesh options fail the host's start with every error listed; the host options are built earlier.
            return;
        }

        if ((value.Registry.Url is null && value.Registry.Urls.Count == 0) || !value.Registry.Register || options.ShutdownTimeout == Timeout.InfiniteTimeSpan)
        {
            return;
        }

        var needed = MeshRegistration.DeregisterTimeout + value.Registry.DrainDelay + RequestGrace;
        if (options.ShutdownTimeout < needed)
        {
            options.ShutdownTimeout = needed;
        }
    }
}
