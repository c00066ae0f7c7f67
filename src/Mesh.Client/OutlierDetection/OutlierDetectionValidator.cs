using Mesh.Client.Configuration;

namespace Mesh.Client.OutlierDetection;

/// <summary>Checks a service's <c>OutlierDetection</c>: error counts, intervals and the ejection cap.</summary>
internal static class OutlierDetectionValidator
{
    public static void Validate(OutlierDetectionOptions? od, string path, List<string> errors)
    {
        if (od is null)
        {
            return;
        }

        ValidationRules.NonNegative(od.Consecutive5xxErrors, $"{path}:Consecutive5xxErrors", errors);
        ValidationRules.NonNegative(od.ConsecutiveGatewayErrors, $"{path}:ConsecutiveGatewayErrors", errors);
        ValidationRules.Positive(od.Interval, $"{path}:Interval", errors);
        ValidationRules.Positive(od.BaseEjectionTime, $"{path}:BaseEjectionTime", errors);
        ValidationRules.Percentage(od.MaxEjectionPercent, $"{path}:MaxEjectionPercent", errors);
    }
}
