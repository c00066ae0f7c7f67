using Mesh.Registry.Cli;

namespace Mesh.Registry.Tests;

/// <summary>
/// Asking the executable for help prints its usage: it must not start a registry (which would bind the default port,
/// generate an admin token and make a CA in the user's data folder).
/// </summary>
public sealed class RegistryCliHelpTests
{
    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("-?")]
    [InlineData("--version")]
    public async Task Help_and_version_are_the_command_line_not_the_server(string argument)
    {
        RegistryCli.IsCommand([argument]).ShouldBeTrue();

        var output = new StringWriter();
        var error = new StringWriter();
        var code = await RegistryCli.RunAsync([argument], output, error, _ => null);

        code.ShouldBe(0);
        output.ToString().ShouldNotBeNullOrWhiteSpace();
        error.ToString().ShouldBeEmpty();
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("policy", "--help")]
    public async Task Usage_names_the_command_users_type(params string[] arguments)
    {
        var output = new StringWriter();
        await RegistryCli.RunAsync(arguments, output, new StringWriter(), _ => null);

        // The tool's command (dotnet tool install gives mesh-registry), not the assembly that happens to run it.
        output.ToString().ShouldContain("mesh-registry ");
        output.ToString().ShouldNotContain("Mesh.Registry");
    }

    [Fact]
    public void Server_arguments_start_the_server()
    {
        RegistryCli.IsCommand([]).ShouldBeFalse();
        RegistryCli.IsCommand(["--urls", "https://127.0.0.1:0"]).ShouldBeFalse();
        RegistryCli.IsCommand(["--MeshRegistry:TrustDomain=example.org"]).ShouldBeFalse();
    }
}
