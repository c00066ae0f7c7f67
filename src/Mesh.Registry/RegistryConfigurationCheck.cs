using Microsoft.Extensions.Options;

namespace Mesh.Registry;

/// <summary>
/// Checks the <c>MeshRegistry</c> section before the registry starts, so that a configuration error is a list the
/// operator can act on (one line per error with its path) and exit code 1, not the host's stack trace.
/// </summary>
internal static class RegistryConfigurationCheck
{
    /// <summary>True when the configuration is valid; otherwise writes the errors to <paramref name="error"/>.</summary>
    public static bool Validate(IServiceProvider services, TextWriter error)
    {
        try
        {
            _ = services.GetRequiredService<IOptions<RegistryOptions>>().Value;
            return true;
        }
        catch (OptionsValidationException ex)
        {
            var count = 0;
            foreach (var failure in ex.Failures)
            {
                error.WriteLine("error: " + failure);
                count++;
            }

            error.WriteLine(count == 1
                ? "The registry did not start: its configuration has 1 error."
                : $"The registry did not start: its configuration has {count} errors.");
            return false;
        }
    }
}
