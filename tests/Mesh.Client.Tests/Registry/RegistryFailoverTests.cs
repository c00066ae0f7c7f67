using System.Net;
using Mesh.Client.Internal;
using Mesh.Client.Registry;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Client.Tests.Registry;

/// <summary><see cref="RegistryFailover"/>: which replica calls go to, and how long to wait before the next one.</summary>
public sealed class RegistryFailoverTests
{
    private static readonly Uri A = new("http://127.0.0.1:7401/");
    private static readonly Uri B = new("http://127.0.0.1:7402/");
    private static readonly Uri C = new("http://127.0.0.1:7403/");

    private static RegistryFailover Set(int seed, params Uri[] replicas) => new(replicas, new SeededRandomSource(seed), NullLogger.Instance);

    [Fact]
    public void A_failing_replica_hands_over_to_the_next_in_order_and_wraps()
    {
        var set = Set(1, A, B, C);
        set.Current.ShouldBe(A);

        set.Failed(A, "refused");
        set.Current.ShouldBe(B);
        set.Failed(B, "503");
        set.Current.ShouldBe(C);
        set.Failed(C, "timeout");
        set.Current.ShouldBe(A);
        set.ConsecutiveFailures.ShouldBe(3);
    }

    [Fact]
    public void Calls_that_fail_on_a_replica_already_left_do_not_skip_the_next_one()
    {
        var set = Set(1, A, B, C);
        set.Failed(A, "refused");

        // Other watches were still on A when it failed: they retry on B, they do not move past it.
        set.Failed(A, "refused");
        set.Failed(A, "refused");
        set.Current.ShouldBe(B);
        set.ConsecutiveFailures.ShouldBe(1);
    }

    [Fact]
    public void An_answer_keeps_the_replica_and_restarts_the_backoff()
    {
        var set = Set(1, A, B);
        set.Failed(A, "refused");
        set.Failed(B, "refused");
        set.ConsecutiveFailures.ShouldBe(2);

        // A late answer from a replica already left changes nothing.
        set.Succeeded(B);
        set.ConsecutiveFailures.ShouldBe(2);

        set.Succeeded(A);
        set.Current.ShouldBe(A);
        set.ConsecutiveFailures.ShouldBe(0);
    }

    [Fact]
    public void One_replica_stays_current_and_still_backs_off()
    {
        var set = Set(1, A);
        set.HasAlternatives.ShouldBeFalse();
        set.Failed(A, "refused");
        set.Failed(A, "refused");
        set.Current.ShouldBe(A);
        set.ConsecutiveFailures.ShouldBe(2);
    }

    [Fact]
    public void The_wait_before_the_next_replica_is_full_jitter_under_an_exponential_ceiling()
    {
        var set = Set(42, A, B);
        var same = new SeededRandomSource(42);
        for (var failures = 1; failures <= 12; failures++)
        {
            var delay = set.Failed(set.Current!, "refused");
            var draw = same.NextDouble();
            var ceiling = Math.Min(TimeSpan.FromSeconds(5).Ticks, TimeSpan.FromMilliseconds(100).Ticks << failures);
            delay.ShouldBe(TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(50).Ticks, (long)(draw * ceiling))), $"failure {failures}");
            delay.ShouldBeInRange(TimeSpan.FromMilliseconds(50), TimeSpan.FromTicks(ceiling));
        }
    }

    [Fact]
    public void The_backoff_ceiling_doubles_per_failure_up_to_five_seconds()
    {
        // A source that always draws its largest value shows the ceiling itself.
        var top = new FixedRandomSource(1.0);
        RegistryFailover.Backoff(1, top).ShouldBe(TimeSpan.FromMilliseconds(200));
        RegistryFailover.Backoff(2, top).ShouldBe(TimeSpan.FromMilliseconds(400));
        RegistryFailover.Backoff(5, top).ShouldBe(TimeSpan.FromMilliseconds(3200));
        RegistryFailover.Backoff(6, top).ShouldBe(TimeSpan.FromSeconds(5));
        RegistryFailover.Backoff(60, top).ShouldBe(TimeSpan.FromSeconds(5));

        // And the smallest draw never waits less than 50 ms, so a dead replica is not hammered.
        RegistryFailover.Backoff(1, new FixedRandomSource(0)).ShouldBe(TimeSpan.FromMilliseconds(50));
    }

    [Theory]
    [InlineData(HttpStatusCode.InternalServerError, true)]
    [InlineData(HttpStatusCode.BadGateway, true)]
    [InlineData(HttpStatusCode.ServiceUnavailable, true)]
    [InlineData(HttpStatusCode.GatewayTimeout, true)]
    [InlineData(HttpStatusCode.NotImplemented, false)]
    [InlineData(HttpStatusCode.BadRequest, false)]
    [InlineData(HttpStatusCode.Unauthorized, false)]
    [InlineData(HttpStatusCode.NotFound, false)]
    [InlineData(HttpStatusCode.TooManyRequests, false)]
    [InlineData(HttpStatusCode.OK, false)]
    public void Only_an_unavailable_replica_is_a_reason_to_move(HttpStatusCode status, bool unavailable) =>
        RegistryFailover.IsUnavailable(status).ShouldBe(unavailable);

    [Fact]
    public void A_request_belongs_to_the_replica_its_address_starts_with()
    {
        var prefixed = new Uri("http://127.0.0.1:7404/registry/");
        var set = Set(1, A, prefixed);
        set.ReplicaOf(new Uri("http://127.0.0.1:7404/registry/v1/services")).ShouldBe(prefixed);
        set.ReplicaOf(new Uri("http://127.0.0.1:7401/v1/services")).ShouldBe(A);
        set.ReplicaOf(new Uri("http://127.0.0.1:9999/v1/services")).ShouldBe(A);
    }

    private sealed class FixedRandomSource(double value) : RandomSource
    {
        public override double NextDouble() => value;

        public override int Next(int maxExclusive) => (int)(value * maxExclusive);
    }
}
