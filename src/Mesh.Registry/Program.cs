using Mesh.Registry;
using Mesh.Registry.Cli;
using Microsoft.Extensions.Configuration.Memory;

// `policy ...` (apply, validate, get, history, rollback), `backup`, `--help` and `--version` are the command line;
// anything else starts the server.
if (RegistryCli.IsCommand(args))
{
    return await RegistryCli.RunAsync(args, Console.Out, Console.Error, Environment.GetEnvironmentVariable);
}

var builder = WebApplication.CreateSlimBuilder(args);

// ASP.NET Core logs every request at Information: six console lines per call (request starting, endpoint, status,
// result, endpoint done, request finished). Under heartbeat load that costs more CPU than the requests themselves (the
// registry load benchmark shows most of a renewal's registry CPU going to those lines). The ASP.NET
// Core templates turn it down in appsettings.json; the registry ships none and may be started from any folder, so the
// default is set here, as the lowest-precedence source: appsettings.json, environment variables
// (Logging__LogLevel__Microsoft.AspNetCore=Information) and the command line still override it.
builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource
{
    InitialData = [new("Logging:LogLevel:Microsoft.AspNetCore", "Warning")],
});
if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]))
{
    builder.WebHost.UseUrls(RegistryDefaults.Url);
}

// https:// URLs are served with the registry's own CA-issued certificate (the slim builder leaves HTTPS URLs out).
builder.WebHost.UseKestrelHttpsConfiguration();
builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = RegistryDefaults.MaxRequestBodyBytes);
builder.Services.AddMeshRegistry();
await using var app = builder.Build();
if (!RegistryConfigurationCheck.Validate(app.Services, Console.Error))
{
    return 1;
}

app.MapMeshRegistry();
await app.RunAsync();
return 0;

/// <summary>The registry's entry point, visible to tests that host it.</summary>
public partial class Program;
