namespace Mesh.Client.Internal;

/// <summary>
/// The text a retry log gives for a failure: the exception's message followed by its inner exceptions' messages. An
/// <see cref="HttpRequestException"/> alone says only "An error occurred while sending the request."; the cause (a
/// refused connection, plain http sent to an https port, a name that does not resolve) is in its inner exceptions.
/// Compiled into Mesh.AspNetCore as well, from this file.
/// </summary>
internal static class ExceptionReason
{
    public static string Of(Exception exception)
    {
        var text = exception.Message;
        for (var inner = exception.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (!text.Contains(inner.Message, StringComparison.Ordinal))
            {
                text = $"{text} ({inner.Message})";
            }
        }

        return text;
    }
}
