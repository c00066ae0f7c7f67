using Mesh.Registry;

var builder = WebApplication.CreateSlimBuilder(args);
if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]))
{
    builder.WebHost.UseUrls(RegistryDefaults.Url);
}

builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = RegistryDefaults.MaxRequestBodyBytes);
builder.Services.AddMeshRegistry();
var app = builder.Build();
app.MapMeshRegistry();
app.Run();

/// <summary>The registry's entry point, visible to tests that host it.</summary>
public partial class Program;
