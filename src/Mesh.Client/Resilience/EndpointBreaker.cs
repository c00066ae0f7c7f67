using Polly;
using Polly.CircuitBreaker;

namespace Mesh.Client.Resilience;

/// <summary>
/// The circuit breaker of one endpoint as seen by one HTTP client: after too many failures the endpoint is skipped
/// for a while, then one attempt probes it. Polly's breaker underneath; never exposed.
/// </summary>
internal sealed class EndpointBreaker
{
    private readonly CircuitBreakerStateProvider _state = new();

    public EndpointBreaker(CircuitBreakerOptions options, TimeProvider timeProvider)
    {
        Pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = timeProvider }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                FailureRatio = options.FailureRatio,
                MinimumThroughput = options.MinimumThroughput,
                SamplingDuration = options.SamplingDuration,
                BreakDuration = options.BreakDuration,
                StateProvider = _state,
                ShouldHandle = static args => new ValueTask<bool>(IsFailure(args.Outcome, args.Context)),
            })
            .Build();
    }

    public ResiliencePipeline<HttpResponseMessage> Pipeline { get; }

    /// <summary>True while the breaker rejects attempts; a half-open breaker lets its probe through.</summary>
    public bool IsOpen => _state.CircuitState is CircuitState.Open or CircuitState.Isolated;

    private static bool IsFailure(Outcome<HttpResponseMessage> outcome, ResilienceContext context)
    {
        if (outcome.Exception is { } ex)
        {
            // The caller giving up says nothing about the endpoint.
            return !(ex is OperationCanceledException && context.CancellationToken.IsCancellationRequested);
        }

        return outcome.Result is { } r && (int)r.StatusCode >= 500;
    }
}
