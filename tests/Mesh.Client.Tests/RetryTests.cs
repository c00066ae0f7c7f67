using Mesh.Client.Resilience;
using Mesh.Testing;

namespace Mesh.Client.Tests;

public sealed class RetryBudgetTests
{
    [Fact]
    public void Retries_are_capped_at_the_ratio_of_requests_plus_the_minimum_per_second()
    {
        var time = new ManualTimeProvider();
        var budget = new RetryBudget(new RetryBudgetOptions { RetryRatio = 0.2, MinRetriesPerSecond = 10, Ttl = TimeSpan.FromSeconds(10) }, time);
        var allowed = 0;
        for (var i = 0; i < 1000; i++)
        {
            budget.RecordRequest();
            if (budget.TryWithdraw())
            {
                allowed++;
            }
        }

        // 0.2 × 1000 earned by the requests, plus the reserve of 10 a second × 10 s.
        allowed.ShouldBe(300);
    }

    [Fact]
    public void Over_time_the_bound_is_ratio_times_requests_plus_minimum_times_seconds()
    {
        var time = new ManualTimeProvider();
        var budget = new RetryBudget(new RetryBudgetOptions(), time);
        var requests = 0;
        var retries = 0;
        for (var second = 0; second < 30; second++)
        {
            for (var i = 0; i < 100; i++)
            {
                budget.RecordRequest();
                requests++;
                while (budget.TryWithdraw())
                {
                    retries++;
                }
            }

            time.Advance(TimeSpan.FromSeconds(1));
        }

        // Each 10 s window allows 0.2 × its requests plus the 100 reserve; three windows passed.
        retries.ShouldBeLessThanOrEqualTo((int)((0.2 * requests) + (100 * 3)));
        retries.ShouldBeGreaterThan((int)(0.2 * requests));
    }

    [Fact]
    public void A_new_client_has_the_reserve_up_front_and_spent_retries_come_back_after_the_ttl()
    {
        var time = new ManualTimeProvider();
        var budget = new RetryBudget(new RetryBudgetOptions { MinRetriesPerSecond = 3, Ttl = TimeSpan.FromSeconds(10) }, time);

        // No request yet: 3 a second × 10 s, at once, as Linkerd and Finagle give a new client.
        Enumerable.Range(0, 50).Count(_ => budget.TryWithdraw()).ShouldBe(30);
        time.Advance(TimeSpan.FromSeconds(5));
        budget.TryWithdraw().ShouldBeFalse("the reserve spent 5 s ago still counts");
        time.Advance(TimeSpan.FromSeconds(5));
        Enumerable.Range(0, 50).Count(_ => budget.TryWithdraw()).ShouldBe(30);
    }
}

public sealed class RetryConditionTests
{
    [Fact]
    public void Names_and_status_codes_parse_and_unknown_ones_are_reported()
    {
        var errors = new List<string>();
        var conditions = RetryConditions.Parse(["5xx,connect-failure", "429", "unavailable", "bogus"], "RetryOn", errors);
        conditions.Has(RetryCondition.Status5xx).ShouldBeTrue();
        conditions.Has(RetryCondition.ConnectFailure).ShouldBeTrue();
        conditions.IsRetriableStatus(502).ShouldBeTrue();
        conditions.IsRetriableStatus(429).ShouldBeTrue();
        conditions.IsRetriableStatus(404).ShouldBeFalse();
        conditions.IsRetriableGrpcStatus(14).ShouldBeTrue();
        conditions.IsRetriableGrpcStatus(4).ShouldBeFalse();
        errors.ShouldHaveSingleItem().ShouldStartWith("RetryOn:3: unknown retry condition 'bogus'");
    }

    [Fact]
    public void A_retry_without_RetryOn_retries_on_the_default_conditions()
    {
        // As in Istio, a retry policy that names no conditions keeps the default ones; Attempts 0 turns retries off.
        var model = RetryModel.From(new RetryOptions { Attempts = 3 });
        model.Attempts.ShouldBe(3);
        model.Conditions.IsRetriableStatus(503).ShouldBeTrue();
        model.Conditions.Has(RetryCondition.ConnectFailure).ShouldBeTrue();
        model.Conditions.Has(RetryCondition.RefusedStream).ShouldBeTrue();
        RetryModel.From(new RetryOptions { RetryOn = ["5xx"] }).Conditions.Has(RetryCondition.ConnectFailure).ShouldBeFalse();
    }

    [Fact]
    public void Gateway_error_covers_502_503_504_only()
    {
        var conditions = RetryConditions.Parse(["gateway-error"], "", null);
        conditions.IsRetriableStatus(502).ShouldBeTrue();
        conditions.IsRetriableStatus(504).ShouldBeTrue();
        conditions.IsRetriableStatus(500).ShouldBeFalse();
    }

    [Fact]
    public void Failures_are_classified_by_what_reached_the_server()
    {
        RetryRules.Classify(new HttpRequestException(HttpRequestError.ConnectionError, "refused")).ShouldBe(FailureKind.ConnectFailure);
        RetryRules.Classify(new HttpRequestException(HttpRequestError.ResponseEnded, "ended")).ShouldBe(FailureKind.Reset);
        RetryRules.Classify(new NoEndpointException("none")).ShouldBe(FailureKind.NotSent);
        RetryRules.Classify(new CircuitOpenException("open")).ShouldBe(FailureKind.NotSent);
        RetryRules.Classify(new AttemptTimeoutException("per try", null)).ShouldBe(FailureKind.PerTryTimeout);
        RetryRules.Classify(new InvalidOperationException()).ShouldBe(FailureKind.Other);
    }
}
