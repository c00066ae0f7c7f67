using Mesh.Registry.Api;

namespace Mesh.Registry.Watches;

/// <summary>A watch's query: <c>index</c> (absent: answer at once) and <c>wait</c> (e.g. <c>30s</c>, <c>500ms</c>, <c>2m</c>; capped).</summary>
internal static class WatchQuery
{
    public static bool TryRead(HttpRequest request, RegistryOptions options, out long? index, out TimeSpan wait, out IResult problem)
    {
        var errors = new ValidationErrors();
        index = ApiRequest.ReadLong(request, "index", errors, 0, long.MaxValue);
        wait = options.DefaultWatchWait;
        if (ApiRequest.Single(request, "wait", errors) is { } text)
        {
            if (WatchWait.TryParse(text, out var parsed))
            {
                wait = parsed > options.MaxWatchWait ? options.MaxWatchWait : parsed;
            }
            else
            {
                errors.Add("wait", $"'{ApiRequest.Truncate(text)}' is not a duration such as 30s, 500ms, 2m or 1h");
            }
        }

        problem = errors.Any ? errors.Problem("Invalid watch") : Results.Empty;
        return !errors.Any;
    }
}
