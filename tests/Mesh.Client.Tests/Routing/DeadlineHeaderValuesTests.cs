using Mesh.Client.Grpc;
using Mesh.Client.Routing;

namespace Mesh.Client.Tests.Routing;

public sealed class DeadlineHeaderValuesTests
{
    private static readonly TimeSpan RouteTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan PerTryTimeout = TimeSpan.FromMilliseconds(250);

    [Fact]
    public void The_route_timeouts_are_written_from_strings_made_once()
    {
        var values = new DeadlineHeaderValues(RouteTimeout, PerTryTimeout);

        var timeout = values.Milliseconds(RouteTimeout);
        timeout.ShouldBe("5000");
        values.Milliseconds(RouteTimeout).ShouldBeSameAs(timeout);
        var perTry = values.Milliseconds(PerTryTimeout);
        perTry.ShouldBe("250");
        values.Milliseconds(PerTryTimeout).ShouldBeSameAs(perTry);

        var grpc = values.Grpc(RouteTimeout);
        grpc.ShouldBe(GrpcTimeout.Format(RouteTimeout));
        values.Grpc(RouteTimeout).ShouldBeSameAs(grpc);
        values.Grpc(PerTryTimeout).ShouldBeSameAs(values.Grpc(PerTryTimeout));
    }

    [Theory]
    [InlineData(4_999_999)] // just under the route's timeout: rounded down, never up to the kept value
    [InlineData(1_234)]
    [InlineData(0)]
    [InlineData(-7)]
    public void Any_other_budget_is_formatted_as_it_comes(long ticks)
    {
        var values = new DeadlineHeaderValues(RouteTimeout, PerTryTimeout);
        var remaining = TimeSpan.FromTicks(ticks == 4_999_999 ? RouteTimeout.Ticks - 1 : ticks * TimeSpan.TicksPerMillisecond);

        values.Milliseconds(remaining).ShouldBe(Math.Max(0, (long)remaining.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture));
        values.Grpc(remaining).ShouldBe(GrpcTimeout.Format(remaining));
    }

    [Fact]
    public void A_route_without_timeouts_formats_every_budget()
    {
        var values = new DeadlineHeaderValues(null, null);

        values.Milliseconds(TimeSpan.FromSeconds(2)).ShouldBe("2000");
        values.Milliseconds(TimeSpan.Zero).ShouldBe("0");
        values.Grpc(TimeSpan.FromSeconds(2)).ShouldBe(GrpcTimeout.Format(TimeSpan.FromSeconds(2)));
    }
}
