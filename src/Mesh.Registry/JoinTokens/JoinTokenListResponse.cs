namespace Mesh.Registry;

/// <summary>The answer to <c>GET /v1/join-tokens</c>: every token made through the API, without its secret, oldest first.</summary>
internal sealed class JoinTokenListResponse
{
    public required List<JoinTokenRecord> Tokens { get; init; }
}
