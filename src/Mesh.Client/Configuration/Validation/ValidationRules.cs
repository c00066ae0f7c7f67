using System.Globalization;

namespace Mesh.Client.Configuration;

/// <summary>Checks that settings of several features share, each reporting its error with the setting's path.</summary>
internal static class ValidationRules
{
    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(1);

    public static void Percentage(double value, string path, List<string> errors)
    {
        if (!double.IsFinite(value) || value < 0 || value > 100)
        {
            errors.Add($"{path}: {Format(value)} must be between 0 and 100");
        }
    }

    public static void NonNegative(int value, string path, List<string> errors)
    {
        if (value < 0)
        {
            errors.Add($"{path}: {value} must not be negative");
        }
    }

    public static void Positive(TimeSpan value, string path, List<string> errors)
    {
        if (value <= TimeSpan.Zero || value > MaxDuration)
        {
            errors.Add($"{path}: {value} must be above 00:00:00 and at most 1.00:00:00");
        }
    }

    public static void Methods(IList<string> methods, string path, List<string> errors)
    {
        for (var i = 0; i < methods.Count; i++)
        {
            if (string.IsNullOrEmpty(methods[i]) || !IsToken(methods[i]))
            {
                errors.Add($"{path}:{i}: '{methods[i]}' is not an HTTP method");
            }
        }
    }

    public static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);

    public static bool IsToken(string value)
    {
        foreach (var c in value)
        {
            // RFC 9110 token characters.
            if (!char.IsAsciiLetterOrDigit(c) && "!#$%&'*+-.^_`|~".IndexOf(c, StringComparison.Ordinal) < 0)
            {
                return false;
            }
        }

        return value.Length > 0;
    }
}
