namespace Mesh.Registry;

/// <summary>What <see cref="JoinTokenStore.Find"/> found for a presented token's hash.</summary>
internal enum JoinTokenMatch
{
    /// <summary>No such token (never made, or revoked).</summary>
    None,

    /// <summary>A live token.</summary>
    Valid,

    /// <summary>A token that was made but has expired: refused, but not a guess.</summary>
    Expired,
}
