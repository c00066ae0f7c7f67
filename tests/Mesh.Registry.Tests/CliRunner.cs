using Mesh.Registry.Cli;

namespace Mesh.Registry.Tests;

/// <summary>Runs the registry's command line in process against a test registry, as a shell with its variables set would.</summary>
internal static class CliRunner
{
    public static async Task<(int Code, string Out, string Err)> RunAsync(Uri registry, string? token, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var environment = new Dictionary<string, string?>
        {
            [PolicyCli.RegistryVariable] = registry.ToString(),
            [PolicyCli.TokenVariable] = token,
        };
        var code = await RegistryCli.RunAsync(args, output, error, name => environment.GetValueOrDefault(name));
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>Writes <paramref name="content"/> to <paramref name="name"/> in <paramref name="directory"/> and gives its path.</summary>
    public static string WriteFile(string directory, string name, string content)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, content);
        return path;
    }
}
