using Mesh.Client.Configuration;

namespace Mesh.Registry;

/// <summary>
/// The registry's HTTP API. This first cut serves policy validation with the very code clients run at start-up,
/// so an operator can check a policy document before it is stored; instances, watches, versioned policies and the CA
/// arrive with the control plane.
/// </summary>
internal static class RegistryEndpoints
{
    public static IServiceCollection AddMeshRegistry(this IServiceCollection services)
    {
        services.AddProblemDetails();
        services.AddHealthChecks();
        return services;
    }

    public static WebApplication MapMeshRegistry(this WebApplication app)
    {
        app.MapHealthChecks("/healthz");
        app.MapPost("/v1/policies/{service}/validate", ValidatePolicyAsync);
        return app;
    }

    internal static async Task<IResult> ValidatePolicyAsync(string service, HttpRequest request, CancellationToken cancellationToken)
    {
        if (!PolicyValidator.IsValidName(service))
        {
            return Results.Problem(statusCode: 400, title: "Invalid service name",
                detail: $"'{service}' is not a valid service name (letters, digits, '-', '_' and '.', at most 63 characters).");
        }

        if (request.ContentLength > RegistryDefaults.MaxPolicyBytes)
        {
            return Results.Problem(statusCode: 413, title: "Policy document too large", detail: $"At most {RegistryDefaults.MaxPolicyBytes} bytes.");
        }

        var (errors, _) = await PolicyDocument.ReadAsync(request.Body, RegistryDefaults.MaxPolicyBytes, cancellationToken);
        return errors.Count == 0
            ? Results.Ok(new { valid = true })
            : Results.ValidationProblem(PolicyDocument.ToProblemErrors(errors), title: "Invalid policy document");
    }
}

/// <summary>Reads a policy document with the configuration reader and validator clients use.</summary>
internal static class PolicyDocument
{
    public static async Task<(List<string> Errors, Mesh.Client.ServicePolicyOptions? Policy)> ReadAsync(Stream body, long maxBytes, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                return ([$"document: larger than {maxBytes} bytes"], null);
            }

            buffer.Write(chunk, 0, read);
        }

        buffer.Position = 0;
        return PolicyDocumentReader.Read(buffer);
    }

    /// <summary>Groups "path: message" lines by path, the shape of a validation problem's <c>errors</c>.</summary>
    public static Dictionary<string, string[]> ToProblemErrors(List<string> errors)
    {
        var grouped = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var e in errors)
        {
            var split = e.IndexOf(": ", StringComparison.Ordinal);
            var key = split > 0 ? e[..split] : "document";
            var message = split > 0 ? e[(split + 2)..] : e;
            if (!grouped.TryGetValue(key, out var list))
            {
                grouped[key] = list = [];
            }

            list.Add(message);
        }

        return grouped.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal);
    }
}
