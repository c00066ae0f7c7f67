using Microsoft.Extensions.Options;

namespace Mesh.Client.Configuration;

/// <summary>
/// Validates <see cref="MeshOptions"/> at host start and on every reload, reporting every error with its path.
/// Hand-written rather than generated from attributes: most rules cross fields (weights summing to 100, a route naming
/// a subset defined elsewhere) and the registry must run the very same checks on policy documents.
/// </summary>
internal sealed class MeshOptionsValidator : IValidateOptions<MeshOptions>
{
    public ValidateOptionsResult Validate(string? name, MeshOptions options)
    {
        var errors = PolicyValidator.Validate(options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
