using System.Globalization;

namespace Mesh.Client.Resilience;

internal sealed class RetryConditions
{
    /// <summary>The names operators write, as Envoy and Istio spell them.</summary>
    internal static readonly (string Name, RetryCondition Condition)[] Names =
    [
        ("connect-failure", RetryCondition.ConnectFailure),
        ("refused-stream", RetryCondition.RefusedStream),
        ("reset", RetryCondition.Reset),
        ("5xx", RetryCondition.Status5xx),
        ("gateway-error", RetryCondition.GatewayError),
        ("retriable-4xx", RetryCondition.Retriable4xx),
        ("unavailable", RetryCondition.GrpcUnavailable),
        ("cancelled", RetryCondition.GrpcCancelled),
        ("deadline-exceeded", RetryCondition.GrpcDeadlineExceeded),
        ("resource-exhausted", RetryCondition.GrpcResourceExhausted),
        ("internal", RetryCondition.GrpcInternal),
    ];

    /// <summary>Istio's default when a route has no retry policy.</summary>
    public static readonly RetryConditions Default = new(
        RetryCondition.ConnectFailure | RetryCondition.RefusedStream | RetryCondition.GrpcUnavailable | RetryCondition.GrpcCancelled,
        [503]);

    public RetryConditions(RetryCondition conditions, int[] statusCodes)
    {
        Conditions = conditions;
        StatusCodes = statusCodes;
    }

    public RetryCondition Conditions { get; }

    public int[] StatusCodes { get; }

    public bool Has(RetryCondition condition) => (Conditions & condition) != 0;

    public bool IsRetriableStatus(int status)
    {
        if (status >= 500 && Has(RetryCondition.Status5xx))
        {
            return true;
        }

        if (status is 502 or 503 or 504 && Has(RetryCondition.GatewayError))
        {
            return true;
        }

        // Envoy's retriable-4xx is 409 Conflict only: the one 4xx that a retry can plausibly fix.
        if (status == 409 && Has(RetryCondition.Retriable4xx))
        {
            return true;
        }

        return Array.IndexOf(StatusCodes, status) >= 0;
    }

    public bool IsRetriableGrpcStatus(int grpcStatus) => grpcStatus switch
    {
        1 => Has(RetryCondition.GrpcCancelled),
        4 => Has(RetryCondition.GrpcDeadlineExceeded),
        8 => Has(RetryCondition.GrpcResourceExhausted),
        13 => Has(RetryCondition.GrpcInternal),
        14 => Has(RetryCondition.GrpcUnavailable),
        _ => false,
    };

    /// <summary>Parses a RetryOn list, reporting each unknown entry.</summary>
    public static RetryConditions Parse(IEnumerable<string> values, string path, List<string>? errors)
    {
        var conditions = RetryCondition.None;
        var codes = new List<int>();
        var index = 0;
        foreach (var raw in values)
        {
            // Envoy accepts a comma-separated string; so do we, so policies can be copied over.
            foreach (var part in (raw ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var found = false;
                foreach (var (name, condition) in Names)
                {
                    if (string.Equals(name, part, StringComparison.OrdinalIgnoreCase))
                    {
                        conditions |= condition;
                        found = true;
                        break;
                    }
                }

                if (found)
                {
                    continue;
                }

                if (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var code) && code is >= 100 and <= 599)
                {
                    codes.Add(code);
                }
                else
                {
                    errors?.Add($"{path}:{index}: unknown retry condition '{part}'; expected a status code or one of {string.Join(", ", Names.Select(n => n.Name))}");
                }
            }

            index++;
        }

        return new RetryConditions(conditions, [.. codes]);
    }
}
