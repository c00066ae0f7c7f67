using Mesh.Client.Configuration;

namespace Mesh.Client.Faults;

/// <summary>Checks a route's <c>Fault</c>: the delay and the abort it injects, and how often.</summary>
internal static class FaultValidator
{
    public static void Validate(FaultOptions? fault, string path, List<string> errors)
    {
        if (fault is null)
        {
            return;
        }

        if (fault.Delay is { } delay)
        {
            ValidationRules.Percentage(delay.Percentage, $"{path}:Delay:Percentage", errors);
            if (delay.FixedDelay <= TimeSpan.Zero || delay.FixedDelay > ValidationRules.MaxDuration)
            {
                errors.Add($"{path}:Delay:FixedDelay: {delay.FixedDelay} must be above 00:00:00 and at most 1.00:00:00");
            }
        }

        if (fault.Abort is { } abort)
        {
            ValidationRules.Percentage(abort.Percentage, $"{path}:Abort:Percentage", errors);
            if (abort.HttpStatus is null == abort.GrpcStatus is null)
            {
                errors.Add($"{path}:Abort: give exactly one of HttpStatus and GrpcStatus");
            }

            if (abort.HttpStatus is { } status and (< 200 or > 599))
            {
                errors.Add($"{path}:Abort:HttpStatus: {status} must be between 200 and 599");
            }

            if (abort.GrpcStatus is { } grpc and (< 1 or > 16))
            {
                errors.Add($"{path}:Abort:GrpcStatus: {grpc} must be a gRPC error code between 1 and 16");
            }
        }
    }
}
