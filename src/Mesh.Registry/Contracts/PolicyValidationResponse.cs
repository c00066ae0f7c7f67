namespace Mesh.Registry.Contracts;

/// <summary>Body of a successful <c>POST /v1/policies/{service}/validate</c>.</summary>
internal sealed class PolicyValidationResponse
{
    public bool Valid { get; set; }
}
