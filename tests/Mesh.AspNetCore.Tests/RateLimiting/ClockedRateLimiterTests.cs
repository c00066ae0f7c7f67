using System.Threading.RateLimiting;
using Mesh.AspNetCore.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.AspNetCore.Tests.RateLimiting;

/// <summary>The limiter's refills and Retry-After follow the injected clock alone.</summary>
public sealed class ClockedRateLimiterTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void A_token_bucket_allows_its_burst_then_refuses_until_a_period_returns_its_tokens()
    {
        var limiter = new ClockedRateLimiter(_time, limit: 3, perPeriod: 2, period: TimeSpan.FromSeconds(10));

        Acquire(limiter, 3).ShouldBe(3);
        using (var refused = limiter.AttemptAcquire())
        {
            refused.IsAcquired.ShouldBeFalse();
            RetryAfter(refused).ShouldBe(TimeSpan.FromSeconds(10));
        }

        _time.Advance(TimeSpan.FromSeconds(4));
        using (var refused = limiter.AttemptAcquire())
        {
            RetryAfter(refused).ShouldBe(TimeSpan.FromSeconds(6)); // to the boundary, not a whole period
        }

        _time.Advance(TimeSpan.FromSeconds(6));
        Acquire(limiter, 5).ShouldBe(2); // one period: TokensPerPeriod, not the whole bucket

        _time.Advance(TimeSpan.FromSeconds(100));
        Acquire(limiter, 5).ShouldBe(3); // ten periods: never more than TokenLimit
    }

    [Fact]
    public void A_request_for_more_tokens_than_a_period_brings_waits_as_many_periods()
    {
        var limiter = new ClockedRateLimiter(_time, limit: 5, perPeriod: 1, period: TimeSpan.FromSeconds(1));
        Acquire(limiter, 5).ShouldBe(5);

        using var refused = limiter.AttemptAcquire(3);

        refused.IsAcquired.ShouldBeFalse();
        RetryAfter(refused).ShouldBe(TimeSpan.FromSeconds(3));
        limiter.GetStatistics()!.TotalFailedLeases.ShouldBe(1);
        limiter.GetStatistics()!.TotalSuccessfulLeases.ShouldBe(5);
    }

    [Fact]
    public void A_fixed_window_is_a_bucket_refilled_whole_at_each_window()
    {
        var limiter = new ClockedRateLimiter(_time, limit: 4, perPeriod: 4, period: TimeSpan.FromMinutes(1));

        Acquire(limiter, 10).ShouldBe(4);
        _time.Advance(TimeSpan.FromSeconds(59));
        Acquire(limiter, 10).ShouldBe(0);
        _time.Advance(TimeSpan.FromSeconds(1));
        Acquire(limiter, 10).ShouldBe(4);
        limiter.GetStatistics()!.CurrentAvailablePermits.ShouldBe(0);
    }

    [Fact]
    public async Task Acquiring_asynchronously_does_not_queue()
    {
        var limiter = new ClockedRateLimiter(_time, limit: 1, perPeriod: 1, period: TimeSpan.FromSeconds(1));

        (await limiter.AcquireAsync()).IsAcquired.ShouldBeTrue();
        (await limiter.AcquireAsync()).IsAcquired.ShouldBeFalse();
    }

    [Fact]
    public void A_full_bucket_is_idle_and_a_drained_one_is_not()
    {
        var limiter = new ClockedRateLimiter(_time, limit: 2, perPeriod: 1, period: TimeSpan.FromSeconds(1));
        _time.Advance(TimeSpan.FromSeconds(5));
        limiter.IdleDuration.ShouldBe(TimeSpan.FromSeconds(5));

        Acquire(limiter, 1).ShouldBe(1);
        limiter.IdleDuration.ShouldBeNull();
        limiter.IsAutoReplenishing.ShouldBeTrue();
        limiter.TryReplenish().ShouldBeFalse();
        limiter.ReplenishmentPeriod.ShouldBe(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public void Asking_for_more_than_the_bucket_holds_is_an_error()
    {
        var limiter = new ClockedRateLimiter(_time, limit: 2, perPeriod: 1, period: TimeSpan.FromSeconds(1));

        Should.Throw<ArgumentOutOfRangeException>(() => limiter.AttemptAcquire(3));
    }

    private static int Acquire(RateLimiter limiter, int attempts)
    {
        var acquired = 0;
        for (var i = 0; i < attempts; i++)
        {
            using var lease = limiter.AttemptAcquire();
            acquired += lease.IsAcquired ? 1 : 0;
        }

        return acquired;
    }

    private static TimeSpan RetryAfter(RateLimitLease lease)
    {
        lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter).ShouldBeTrue();
        lease.MetadataNames.ShouldBe([MetadataName.RetryAfter.Name]);
        return retryAfter;
    }
}
