using System.CommandLine;
using System.CommandLine.Help;

namespace Mesh.Registry.Cli;

/// <summary>
/// The registry's command line: <c>policy ...</c> (<see cref="PolicyCli"/>) and <c>backup</c> (<see cref="BackupCli"/>).
/// Any other arguments start the server.
/// </summary>
internal static class RegistryCli
{
    /// <summary>Bad usage: unknown or missing arguments (the commands' own exit codes keep 2 for it too).</summary>
    public const int Usage = 2;

    /// <summary>The command <c>dotnet tool install</c> gives (the package's <c>ToolCommandName</c>).</summary>
    public const string CommandName = "mesh-registry";

    /// <summary>Whether <paramref name="args"/> asks for the command line rather than the server.</summary>
    /// <remarks>
    /// Help and version are the command line's too: the usage errors say "Run with --help", and a server started by
    /// it would bind the default port and make an admin token and a CA in the user's data folder.
    /// </remarks>
    public static bool IsCommand(string[] args) =>
        args.Length > 0 && args[0] is "policy" or "backup" or "--help" or "-h" or "-?" or "/?" or "--version";

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, Func<string, string?> environment,
        HttpMessageHandler? handler = null, CancellationToken cancellationToken = default)
    {
        // A named command rather than RootCommand, whose name is the running assembly's (Mesh.Registry, or the test
        // host): usage and errors name the command the tool installs.
        var root = new Command(CommandName, "MeshLib registry. Without arguments it serves; 'policy' manages policies and rollouts; 'backup' copies the SQLite store.")
        {
            new HelpOption(),
            new VersionOption(),
            PolicyCli.Create(output, error, environment, handler),
            BackupCli.Create(output, error, environment),
        };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors)
            {
                await error.WriteLineAsync(e.Message);
            }

            await error.WriteLineAsync("Run with --help for usage.");
            return Usage;
        }

        return await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken);
    }
}
