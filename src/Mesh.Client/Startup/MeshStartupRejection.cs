using Microsoft.Extensions.Options;

namespace Mesh.Client.Startup;

/// <summary>
/// The <c>Mesh</c> configuration a host refused at start. While set, the host's own "Hosting failed to start" log (the
/// exception with its stack trace) is filtered out (see <see cref="MeshStartupLogFilter"/>), and should the exception end
/// the process unhandled, the process writes one line per error to standard error and exits with code 1.
/// </summary>
internal sealed class MeshStartupRejection
{
    private static int s_exitHandlerAdded;

    private volatile OptionsValidationException? _rejected;

    public bool IsRejected => _rejected is not null;

    public void Reject(OptionsValidationException exception)
    {
        _rejected = exception;
        if (Interlocked.Exchange(ref s_exitHandlerAdded, 1) == 0)
        {
            AppDomain.CurrentDomain.UnhandledException += ExitOnMeshConfigurationError;
        }
    }

    /// <summary>The lines printed for <paramref name="exception"/>: each error with its configuration path, then a summary.</summary>
    public static IReadOnlyList<string> Lines(OptionsValidationException exception)
    {
        var lines = new List<string>();
        foreach (var failure in exception.Failures)
        {
            lines.Add("error: " + failure);
        }

        lines.Add(lines.Count == 1
            ? "The app did not start: its Mesh configuration has 1 error."
            : $"The app did not start: its Mesh configuration has {lines.Count} errors.");
        return lines;
    }

    private static void ExitOnMeshConfigurationError(object sender, UnhandledExceptionEventArgs e)
    {
        var exception = e.ExceptionObject as Exception;
        while (exception is AggregateException { InnerExceptions.Count: 1 } aggregate)
        {
            exception = aggregate.InnerExceptions[0];
        }

        if (exception is not OptionsValidationException validation || validation.OptionsType != typeof(MeshOptions))
        {
            return;
        }

        // The runtime would print the exception with its stack trace and abort (exit code 134); a configuration error
        // is the operator's to fix, not a crash, so it gets the list and the exit code of a failed command.
        foreach (var line in Lines(validation))
        {
            Console.Error.WriteLine(line);
        }

        Console.Error.Flush();
        Environment.Exit(1);
    }
}
