using Microsoft.Extensions.Logging.Testing;

namespace Mesh.Registry.Tests;

/// <summary>The registry's log records as one text, so tests can check that secrets never appear.</summary>
internal static class LogText
{
    /// <summary>Level, category and message of every record, with its exception, so a secret in an exception is found too.</summary>
    public static string AllText(this FakeLogCollector logs) =>
        string.Join('\n', logs.GetSnapshot().Select(e =>
            $"{e.Level} {e.Category} {e.Message}" + (e.Exception is null ? string.Empty : " " + e.Exception)));
}
