using System.Threading.RateLimiting;

namespace Mesh.Registry;

/// <summary>An <see cref="AuthFailureBucket"/> lease: acquired, or refused with <see cref="MetadataName.RetryAfter"/>.</summary>
internal sealed class AuthFailureLease : RateLimitLease
{
    public static readonly AuthFailureLease Acquired = new(true, null);

    private static readonly string[] RetryAfterNames = [MetadataName.RetryAfter.Name];

    private readonly TimeSpan? _retryAfter;

    private AuthFailureLease(bool acquired, TimeSpan? retryAfter)
    {
        IsAcquired = acquired;
        _retryAfter = retryAfter;
    }

    public override bool IsAcquired { get; }

    public override IEnumerable<string> MetadataNames => _retryAfter is null ? [] : RetryAfterNames;

    public static AuthFailureLease Refused(TimeSpan retryAfter) => new(false, retryAfter);

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        metadata = _retryAfter;
        return _retryAfter is not null && metadataName == MetadataName.RetryAfter.Name;
    }
}
