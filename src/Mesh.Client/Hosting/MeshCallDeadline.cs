using Mesh.Client.Grpc;
using Mesh.Client.Http;
using Mesh.Client.Internal;

namespace Mesh.Client.Hosting;

/// <summary>
/// The deadline of the inbound request being served, which every outbound mesh call made while serving it inherits.
/// A hosting seam: the server integration (Mesh.AspNetCore's <c>UseMesh()</c>) sets it from the caller's headers;
/// apps do not call it.
/// </summary>
public static class MeshCallDeadline
{
    /// <summary>The header carrying the caller's remaining budget in whole milliseconds.</summary>
    public const string TimeoutHeader = MeshHeaders.Timeout;

    /// <summary>Parses a remaining-milliseconds header value, clamped to [0, one day]; false for garbage.</summary>
    public static bool TryParseBudget(ReadOnlySpan<char> text, out TimeSpan budget) => MeshDeadline.TryParseBudget(text, out budget);

    /// <summary>gRPC's header carrying the caller's deadline as a remaining timeout.</summary>
    public const string GrpcTimeoutHeader = MeshHeaders.GrpcTimeout;

    /// <summary>
    /// Parses a <c>grpc-timeout</c> value (1 to 8 digits and a unit, H M S m u n), clamped to one day; false for
    /// anything else, which a gRPC server ignores.
    /// </summary>
    public static bool TryParseGrpcTimeout(ReadOnlySpan<char> text, out TimeSpan timeout) => GrpcTimeout.TryParse(text, out timeout);

    /// <summary>
    /// Bounds outbound calls made from here on in the current async flow by <paramref name="budget"/> from now. A
    /// deadline already in force is never extended. Call it from the async method serving the request: the deadline
    /// then ends when that method returns, so it cannot leak into the connection's next request.
    /// </summary>
    public static void Shorten(TimeSpan budget, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        var now = timeProvider.GetTimestamp();
        var deadline = now + (long)(budget.TotalSeconds * timeProvider.TimestampFrequency);
        var inherited = MeshDeadline.Value;
        MeshDeadline.Set(inherited != 0 && inherited < deadline ? inherited : Math.Max(deadline, 1));
    }
}
