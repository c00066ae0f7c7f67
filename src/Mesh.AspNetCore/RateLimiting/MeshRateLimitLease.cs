using System.Threading.RateLimiting;

namespace Mesh.AspNetCore.RateLimiting;

/// <summary>
/// A lease of <see cref="ClockedRateLimiter"/>: acquired (one shared instance, so a permitted request allocates
/// nothing), or refused with the time until enough permits return as <see cref="MetadataName.RetryAfter"/>.
/// </summary>
internal sealed class MeshRateLimitLease : RateLimitLease
{
    public static readonly MeshRateLimitLease Acquired = new(acquired: true, retryAfter: null);

    private static readonly string[] RetryAfterName = [MetadataName.RetryAfter.Name];
    private readonly TimeSpan? _retryAfter;

    private MeshRateLimitLease(bool acquired, TimeSpan? retryAfter)
    {
        IsAcquired = acquired;
        _retryAfter = retryAfter;
    }

    public override bool IsAcquired { get; }

    public override IEnumerable<string> MetadataNames => _retryAfter is null ? [] : RetryAfterName;

    public static MeshRateLimitLease Refused(TimeSpan retryAfter) => new(acquired: false, retryAfter);

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        if (_retryAfter is { } retryAfter && metadataName == MetadataName.RetryAfter.Name)
        {
            metadata = retryAfter;
            return true;
        }

        metadata = null;
        return false;
    }
}
