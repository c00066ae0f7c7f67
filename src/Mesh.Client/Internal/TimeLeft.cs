namespace Mesh.Client.Internal;

/// <summary>The time left until a deadline timestamp, shared by the call loop and the retry rules.</summary>
internal static class TimeLeft
{
    /// <summary>The longest budget a caller's header (<c>x-mesh-timeout-ms</c> or <c>grpc-timeout</c>) can give: a day; anything
    /// longer is as good as none.</summary>
    public static readonly TimeSpan MaxBudget = TimeSpan.FromDays(1);

    /// <summary>
    /// The time left until <paramref name="deadline"/>, or <see cref="Timeout.InfiniteTimeSpan"/> when it is 0 (no
    /// deadline). Never zero or negative when there is a deadline: a timer or a wait reads those as "no timeout" or
    /// "now", and a spent budget should end the call through its own deadline timer, not a race.
    /// </summary>
    public static TimeSpan Until(long deadline, TimeProvider timeProvider)
    {
        if (deadline == 0)
        {
            return Timeout.InfiniteTimeSpan;
        }

        var left = timeProvider.GetElapsedTime(timeProvider.GetTimestamp(), deadline);
        return left > TimeSpan.Zero ? left : TimeSpan.FromTicks(1);
    }
}
