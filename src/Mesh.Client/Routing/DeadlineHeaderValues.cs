using System.Globalization;
using Mesh.Client.Grpc;

namespace Mesh.Client.Routing;

/// <summary>
/// The deadline headers' values (<c>x-mesh-timeout-ms</c> and <c>grpc-timeout</c>) for a route's own timeouts, formatted
/// once when the route is built. A first attempt that starts when its call does passes on exactly the route's timeout
/// (or its per-try timeout, when shorter), so most calls write a kept string instead of formatting a new one; any other
/// budget is formatted as it comes.
/// </summary>
internal sealed class DeadlineHeaderValues
{
    private readonly TimeSpan? _timeout;
    private readonly long _timeoutMilliseconds;
    private readonly string? _timeoutText;
    private readonly string? _timeoutGrpcText;
    private readonly TimeSpan? _perTryTimeout;
    private readonly long _perTryMilliseconds;
    private readonly string? _perTryText;
    private readonly string? _perTryGrpcText;

    public DeadlineHeaderValues(TimeSpan? timeout, TimeSpan? perTryTimeout)
    {
        _timeout = timeout;
        _perTryTimeout = perTryTimeout;
        if (timeout is { } t)
        {
            _timeoutMilliseconds = WholeMilliseconds(t);
            _timeoutText = Format(_timeoutMilliseconds);
            _timeoutGrpcText = GrpcTimeout.Format(t);
        }

        if (perTryTimeout is { } p)
        {
            _perTryMilliseconds = WholeMilliseconds(p);
            _perTryText = Format(_perTryMilliseconds);
            _perTryGrpcText = GrpcTimeout.Format(p);
        }
    }

    /// <summary><c>x-mesh-timeout-ms</c>: whole milliseconds, rounded down, never negative.</summary>
    public string Milliseconds(TimeSpan remaining)
    {
        var milliseconds = WholeMilliseconds(remaining);
        if (_timeout is not null && milliseconds == _timeoutMilliseconds)
        {
            return _timeoutText!;
        }

        if (_perTryTimeout is not null && milliseconds == _perTryMilliseconds)
        {
            return _perTryText!;
        }

        return Format(milliseconds);
    }

    /// <summary><c>grpc-timeout</c>, as <see cref="GrpcTimeout.Format"/> writes it.</summary>
    public string Grpc(TimeSpan remaining)
    {
        if (remaining == _timeout)
        {
            return _timeoutGrpcText!;
        }

        if (remaining == _perTryTimeout)
        {
            return _perTryGrpcText!;
        }

        return GrpcTimeout.Format(remaining);
    }

    private static long WholeMilliseconds(TimeSpan remaining) => Math.Max(0, (long)remaining.TotalMilliseconds);

    private static string Format(long milliseconds) => milliseconds.ToString(CultureInfo.InvariantCulture);
}
