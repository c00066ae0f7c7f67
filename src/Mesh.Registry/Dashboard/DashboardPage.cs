namespace Mesh.Registry.Dashboard;

/// <summary>
/// Serves the dashboard page (<c>/</c>) and its script and style, embedded in this assembly: plain HTML and JavaScript,
/// no build step. The page holds no data; it reads everything from <c>GET /v1/dashboard</c> with the admin token the
/// user gives it. A strict content security policy allows only these same-origin files and calls back to this origin.
/// </summary>
internal static class DashboardPage
{
    /// <summary>Scripts and styles from this origin only, no inline code, no plugins, no framing, no form posts elsewhere.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly (string Path, string Resource, string ContentType)[] Files =
    [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/dashboard/app.js", "app.js", "text/javascript; charset=utf-8"),
        ("/dashboard/app.css", "app.css", "text/css; charset=utf-8"),
    ];

    public static WebApplication MapMeshDashboard(this WebApplication app)
    {
        foreach (var (path, resource, contentType) in Files)
        {
            var content = Read(resource);
            app.MapGet(path, (HttpContext context) =>
            {
                var headers = context.Response.Headers;
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
                headers.XContentTypeOptions = "nosniff";
                headers.XFrameOptions = "DENY";
                headers["Referrer-Policy"] = "no-referrer";
                headers.CacheControl = "no-cache";
                return Results.Bytes(content, contentType);
            });
        }

        return app;
    }

    private static byte[] Read(string name)
    {
        using var stream = typeof(DashboardPage).Assembly.GetManifestResourceStream($"Mesh.Registry.Dashboard.{name}")
            ?? throw new InvalidOperationException($"The dashboard's {name} is not embedded in the registry assembly.");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }
}
